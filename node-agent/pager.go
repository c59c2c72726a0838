package nodeagent

import (
	"context"
	"fmt"

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

// next reads the page after id, asking for at most limit operations.
func (p *pager) next(ctx context.Context, after uint64, limit int) ([]logstore.Update, int, int64, error) {
	if after == 0 {
		// A reader with an empty state may always replay; note the horizon
		// it starts under.
		h, err := p.store.Horizon(ctx)
		if err != nil {
			return nil, 0, 0, fmt.Errorf("start replay: %w", err)
		}
		p.replaying, p.began = true, h
	}
	n := max(1, min(p.ops, limit))
	var page []logstore.Update
	var err error
	if p.replaying && after < p.began {
		page, err = p.store.ReadReplay(ctx, after, n, p.began)
	} else {
		p.replaying = false
		page, err = p.store.Read(ctx, after, n)
	}
	if err != nil {
		return nil, 0, 0, err
	}
	ops, bytes := pageSize(page)
	if ops > 0 {
		perOp := max(bytes/int64(ops), 1)
		p.ops = int(min(int64(p.maxOps), max(int64(minPageOps), p.maxBytes/perOp)))
	}
	return page, ops, bytes, nil
}

// pageSize returns the operations and key and value bytes of a page.
func pageSize(page []logstore.Update) (ops int, bytes int64) {
	for _, u := range page {
		ops += len(u.Ops)
		for _, op := range u.Ops {
			bytes += int64(len(op.Key) + len(op.Value))
		}
	}
	return ops, bytes
}
