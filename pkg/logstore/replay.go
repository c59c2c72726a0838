package logstore

import "context"

// ReplayReader is implemented by stores that serve a full replay of the log
// in pages.
//
// A plain [Store.Read] refuses every position between 0 and the horizon,
// because a reader standing there may hold state from before a rewrite
// removed a delete marker above it. A replay that started from 0 stands
// there too, page after page, with state built from the log as it is now;
// it is safe as long as no rewrite has raised the horizon since it began
// (a rewrite that leaves the horizon alone removes only operations that a
// later, kept operation overrides). The replay tells the store the horizon
// it began under, and the store serves it until that changes.
type ReplayReader interface {
	// ReadReplay reads like Read, for a replay of the whole log that
	// began, with after == 0, when the horizon was horizon (the replay
	// calls Horizon before its first read). It serves positions below the
	// horizon while the horizon is still horizon, checking it after
	// reading too, and fails with ErrBehindHorizon once it has moved: the
	// replay must then start over.
	ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]Update, error)
}

// ReadReplay reads one page of a full replay that began when the horizon
// was horizon: through [ReplayReader] when s implements it, and through
// Read otherwise, which refuses positions below the horizon. See
// [ReplayReader].
func ReadReplay(ctx context.Context, s Store, after uint64, maxOps int, horizon uint64) ([]Update, error) {
	if r, ok := s.(ReplayReader); ok {
		return r.ReadReplay(ctx, after, maxOps, horizon)
	}
	return s.Read(ctx, after, maxOps)
}
