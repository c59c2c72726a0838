package sqlkit

import (
	"context"
	"fmt"

	"github.com/whycache/whycache/pkg/logstore"
)

// DefaultRewriteBatch is the number of rows a rewrite removes per
// transaction when RewriteOptions.BatchSize is zero.
const DefaultRewriteBatch = 5000

// ScanFunc streams every operation with id <= through, in log order, to fn.
type ScanFunc func(ctx context.Context, through uint64, fn func(pos Pos, typ logstore.OpType, identity string) error) error

// RemoveFunc removes the operations at the given positions in one
// transaction and returns how many rows it removed.
type RemoveFunc func(ctx context.Context, batch []Pos) (int64, error)

// RunRewrite plans and performs a history rewrite: it scans the log through
// through, and removes what the [Planner] returns in transactions of batch
// rows, overlapping the removals with the scan. The caller has raised the
// horizon to deleteLimit (when it removes delete markers) beforehand.
func RunRewrite(ctx context.Context, scan ScanFunc, remove RemoveFunc, through, deleteLimit uint64, batch int) (examined, removed int64, err error) {
	if batch <= 0 {
		batch = DefaultRewriteBatch
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []Pos, 2)
	result := make(chan error, 1)
	go func() {
		var rerr error
		for b := range batches {
			if rerr != nil {
				continue
			}
			n, err := remove(ctx, b)
			removed += n
			if err != nil {
				rerr = fmt.Errorf("remove %d rows: %w", len(b), err)
				cancel()
			}
		}
		result <- rerr
	}()
	p := NewPlanner(deleteLimit)
	cur := make([]Pos, 0, batch)
	send := func() {
		if len(cur) > 0 {
			sortPos(cur) // removals in key order touch fewer pages
			batches <- cur
			cur = make([]Pos, 0, batch)
		}
	}
	serr := scan(ctx, through, func(pos Pos, typ logstore.OpType, identity string) error {
		if old, ok := p.Add(pos, typ, identity); ok {
			if cur = append(cur, old); len(cur) == batch {
				send()
			}
		}
		return nil
	})
	if serr == nil {
		for _, pos := range p.Finish() {
			if cur = append(cur, pos); len(cur) == batch {
				send()
			}
		}
		send()
	}
	close(batches)
	rerr := <-result
	if rerr != nil {
		return p.Examined(), removed, rerr
	}
	if serr != nil {
		return p.Examined(), removed, fmt.Errorf("scan: %w", serr)
	}
	return p.Examined(), removed, nil
}
