package logstore

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// AllOptions say which part of the log [All] reads.
type AllOptions struct {
	// After is the id to read after. Zero reads the whole log from the
	// start, as a replay (see [Store.ReadReplay]), which works whatever the
	// horizon. A position above zero must be at or above the horizon: a
	// reader standing there catches up incrementally.
	After uint64
	// Through, when not zero, is the last id to read: the iteration ends
	// once it has yielded the last update at or below Through.
	Through uint64
	// Follow waits for new updates at the end of the log instead of
	// stopping: the iteration then ends at Through, at an error, or when
	// ctx ends (yielding ctx's error).
	Follow bool
	// PageOps is the number of operations to ask the store for per read
	// (maxOps of [Store.Read]); zero means the store's default page.
	PageOps int
}

// maxReplayStarts bounds how often a replay that has yielded nothing yet
// starts over because a rewrite raised the horizon under it.
const maxReplayStarts = 10

// All returns an iterator over the log's updates after opts.After, in id
// order, read in pages. It is the one way to read the whole log that stays
// correct across history rewrites: from After == 0 it replays through
// [Store.ReadReplay] under the horizon it began with, so that it passes the
// positions below the horizon that a plain Read refuses.
//
// A rewrite may raise the horizon while the iteration runs. To a point the
// iteration has passed, that does no harm and it goes on; before the first
// update, it begins again under the new horizon. Above the position it has
// reached, the updates it yielded may miss a delete marker that the
// rewrite removed, so it yields an error matching [ErrBehindHorizon] and
// stops: a caller that builds state from the updates drops that state and
// starts again from 0. From After > 0 below the horizon, it yields that
// error at once: such a reader must bootstrap from a snapshot.
//
// The iteration stops after yielding an error. Updates are yielded as the
// store returned them; the caller may keep them.
func All(ctx context.Context, s Store, opts AllOptions) iter.Seq2[Update, error] {
	return func(yield func(Update, error) bool) {
		if opts.Through > 0 && opts.Through <= opts.After {
			return
		}
		c := &cursor{s: s, pos: opts.After, maxOps: opts.PageOps}
		if err := c.start(ctx); err != nil {
			yield(Update{}, err)
			return
		}
		for {
			page, err := c.next(ctx)
			if err != nil {
				yield(Update{}, err)
				return
			}
			if len(page) == 0 {
				if !opts.Follow {
					return
				}
				if _, err := s.Wait(ctx, c.pos); err != nil {
					yield(Update{}, fmt.Errorf("logstore: wait for updates after %d: %w", c.pos, err))
					return
				}
				continue
			}
			for _, u := range page {
				if opts.Through > 0 && u.ID > opts.Through {
					return
				}
				if u.ID <= c.pos {
					yield(Update{}, fmt.Errorf("logstore: read after %d returned update %d: %w", c.pos, u.ID, ErrInvalid))
					return
				}
				c.pos = u.ID
				if !yield(u, nil) || opts.Through > 0 && u.ID >= opts.Through {
					return
				}
			}
		}
	}
}

// cursor reads the log page by page from a position, as a replay from 0
// while its position is below the horizon the replay began with.
type cursor struct {
	s      Store
	pos    uint64
	maxOps int
	replay bool   // the position was reached by a replay from 0
	began  uint64 // the horizon the replay runs under
	starts int    // how often the replay began
}

// start notes the horizon when the cursor replays from 0.
func (c *cursor) start(ctx context.Context) error {
	if c.pos != 0 {
		return nil
	}
	h, err := c.s.Horizon(ctx)
	if err != nil {
		return fmt.Errorf("logstore: start a replay: %w", err)
	}
	c.replay, c.began, c.starts = true, h, c.starts+1
	return nil
}

// next reads the page after the cursor's position.
func (c *cursor) next(ctx context.Context) ([]Update, error) {
	for {
		if c.replay && c.pos >= c.began {
			// Past the horizon the replay began under, the replay's state
			// is that of any reader standing there.
			c.replay = false
		}
		var page []Update
		var err error
		if c.replay {
			page, err = c.s.ReadReplay(ctx, c.pos, c.maxOps, c.began)
		} else {
			page, err = c.s.Read(ctx, c.pos, c.maxOps)
		}
		if err == nil {
			return page, nil
		}
		if !errors.Is(err, ErrBehindHorizon) {
			return nil, fmt.Errorf("logstore: read after %d: %w", c.pos, err)
		}
		if err := c.horizonMoved(ctx, err); err != nil {
			return nil, err
		}
	}
}

// horizonMoved decides what a read refused with ErrBehindHorizon means. The
// horizon only rises, and a read is refused only below it, so the cursor's
// state is stale unless it is empty: a replay that has yielded nothing yet
// begins again under the new horizon; any other reader must start over.
func (c *cursor) horizonMoved(ctx context.Context, refused error) error {
	h, err := c.s.Horizon(ctx)
	if err != nil {
		return fmt.Errorf("logstore: read after %d: %w (and reading the horizon: %w)", c.pos, refused, err)
	}
	switch {
	case c.pos == 0 && c.starts < maxReplayStarts:
		c.replay, c.began, c.starts = true, h, c.starts+1
		return nil
	case c.replay:
		return fmt.Errorf("logstore: replay at update %d: a history rewrite raised the horizon to %d meanwhile; "+
			"read again from the start: %w", c.pos, h, refused)
	default:
		return fmt.Errorf("logstore: read after %d: below the horizon %d; read from the start or bootstrap from a snapshot: %w",
			c.pos, h, refused)
	}
}
