package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// pager reads the log in pages sized by bytes as well as operations: the
// store bounds a page by its number of operations only, and values run from
// bytes to megabytes, so the pager starts small and adapts the operation
// count to the average operation size it sees. A page still holds at least
// one whole update, so one page is at most about maxBytes or one update
// (bounded by the log's update size limit), whichever is larger.
//
// A pager also knows when its reader is replaying the log from the start: a
// state built from id 0 stands below the log's horizon page after page,
// which plain reads refuse; the pager then reads through
// Store.ReadReplay under the horizon the replay began with until it has
// passed that horizon.
type pager struct {
	store    logstore.Store
	maxOps   int   // ceiling on operations per page
	maxBytes int64 // target bytes per page
	ops      int   // operations to ask for next

	replaying bool   // the reader's state comes from a replay that began at 0
	began     uint64 // the horizon when that replay began
}

// minPageOps is the first page's operation count.
const minPageOps = 8

func newPager(store logstore.Store, maxOps int, maxBytes int64) *pager {
	return &pager{store: store, maxOps: maxOps, maxBytes: maxBytes, ops: min(minPageOps, maxOps)}
}

// page is one read from the log: whole updates, with their operation
// count and key and value bytes.
type page struct {
	updates []logstore.Update
	ops     int
	bytes   int64
}

// next reads the page after id, asking for at most limit operations.
func (p *pager) next(ctx context.Context, after uint64, limit int) (page, error) {
	if after == 0 {
		// A reader with an empty state may always replay; note the horizon
		// it starts under.
		h, err := p.store.Horizon(ctx)
		if err != nil {
			return page{}, fmt.Errorf("start replay: %w", err)
		}
		p.replaying, p.began = true, h
	}
	n := max(1, min(p.ops, limit))
	var ups []logstore.Update
	var err error
	if p.replaying && after < p.began {
		ups, err = p.store.ReadReplay(ctx, after, n, p.began)
	} else {
		p.replaying = false
		ups, err = p.store.Read(ctx, after, n)
	}
	if err != nil {
		return page{}, err
	}
	pg := newPage(ups)
	if pg.ops > 0 {
		perOp := max(pg.bytes/int64(pg.ops), 1)
		p.ops = int(min(int64(p.maxOps), max(int64(minPageOps), p.maxBytes/perOp)))
	}
	return pg, nil
}

// nextChecked reads the page after t.ID and checks on the way that the log
// still holds t, the last update its reader has: it reads from t.ID-1, so
// that the page starts with t's update when the log has it, compares it
// (see checkTip) and drops it. The cost is one update read twice per page.
// A mismatch fails with a *faultError: the log is not the history the
// reader's state was built from.
func (p *pager) nextChecked(ctx context.Context, t tip, limit int) (page, error) {
	if t.ID == 0 {
		return p.next(ctx, 0, limit)
	}
	pg, err := p.next(ctx, t.ID-1, limit)
	if errors.Is(err, logstore.ErrBehindHorizon) && !p.replaying {
		// t.ID is the horizon itself: a reader there may read on, and the
		// update below it is only compared.
		var ups []logstore.Update
		ups, err = p.store.ReadReplay(ctx, t.ID-1, max(1, min(p.ops, limit)), t.ID)
		pg = newPage(ups)
	}
	if err != nil {
		return page{}, err
	}
	var first *logstore.Update
	var head uint64
	if len(pg.updates) > 0 {
		first = &pg.updates[0]
	} else if head, err = p.store.Latest(ctx); err != nil {
		return page{}, fmt.Errorf("read the log's head: %w", err)
	}
	if checkTip(t, first, head) == tipMismatch {
		return page{}, tipFault(t, first, head)
	}
	if first != nil && first.ID == t.ID {
		pg = newPage(pg.updates[1:])
	}
	return pg, nil
}

// tipFault describes a log that no longer holds the update t.
func tipFault(t tip, first *logstore.Update, head uint64) *faultError {
	if first == nil {
		return &faultError{"ahead-of-log", fmt.Errorf("the log ends at update %d, but the cache file holds update %d: the log was restored or replaced", head, t.ID)}
	}
	return &faultError{"log-diverged", fmt.Errorf("update %d of the log committed at %s, not at %s as when it was applied: the log was restored or failed over, and its ids reused",
		t.ID, first.Time.UTC().Format(time.RFC3339Nano), t.Time.UTC().Format(time.RFC3339Nano))}
}

// newPage counts the operations and key and value bytes of updates.
func newPage(updates []logstore.Update) page {
	pg := page{updates: updates}
	for _, u := range updates {
		pg.ops += len(u.Ops)
		for _, op := range u.Ops {
			pg.bytes += int64(len(op.Key) + len(op.Value))
		}
	}
	return pg
}
