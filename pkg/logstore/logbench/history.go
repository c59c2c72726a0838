package logbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// History log shape: updates of historyOps operations over historyKeys
// distinct keys, historyDeletes of them deletes.
const (
	historyOps     = 100
	historyKeys    = 100_000
	historyDeletes = 0.1
	fillWriters    = 8
)

// measureHistory fills a log of cfg.RewriteRows rows, reads it all through
// another handle (tail read), and rewrites it through its last id with
// every delete marker removable.
func measureHistory(ctx context.Context, b *backend, cfg Config) ([]Result, error) {
	const name = "bench_history"
	s, err := openLog(ctx, b, name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	start := time.Now()
	if err := fill(ctx, s, cfg.RewriteRows); err != nil {
		return nil, fmt.Errorf("fill: %w", err)
	}
	cfg.progress("%s: filled %d rows in %v", b.name, cfg.RewriteRows, time.Since(start).Round(time.Millisecond))
	tail, err := measureTail(ctx, b, name)
	if err != nil {
		return nil, fmt.Errorf("tail read: %w", err)
	}
	cfg.progress("%s: tail read %.0f ops/s", b.name, tail.Ours)
	latest, err := s.Latest(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.Rewrite(ctx, logstore.RewriteOptions{Through: latest, DeleteLimit: latest})
	if err != nil {
		return []Result{tail}, fmt.Errorf("rewrite: %w", err)
	}
	rw := Result{Backend: b.name, Measure: fmt.Sprintf("rewrite %d rows", cfg.RewriteRows), Elapsed: st.Duration,
		Note: fmt.Sprintf("examined %d, removed %d", st.Examined, st.Removed)}
	cfg.progress("%s: rewrite of %d rows in %v (%s)", b.name, cfg.RewriteRows, st.Duration.Round(time.Millisecond), rw.Note)
	return []Result{tail, rw}, nil
}

// fill appends rows operations in updates of historyOps, from fillWriters
// goroutines.
func fill(ctx context.Context, s logstore.Store, rows int) error {
	updates := (rows + historyOps - 1) / historyOps
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, fillWriters)
	for w := range fillWriters {
		r := rand.New(rand.NewPCG(uint64(w), 42))
		wg.Go(func() {
			for next.Add(1) <= int64(updates) {
				if _, err := s.Append(ctx, historyUpdate(r)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}

func historyUpdate(r *rand.Rand) []logstore.Op {
	ops := make([]logstore.Op, historyOps)
	for i := range ops {
		key := fmt.Appendf(nil, "key-%06d", r.IntN(historyKeys))
		if r.Float64() < historyDeletes {
			ops[i] = logstore.Delete(key)
		} else {
			ops[i] = logstore.Set(key, value)
		}
	}
	return ops
}

// measureTail reads the whole log from 0 through a fresh handle, in pages
// of the store's default size, as logstore.All reads it.
func measureTail(ctx context.Context, b *backend, name string) (Result, error) {
	s, err := b.open(ctx, logstore.Options{Name: name})
	if err != nil {
		return Result{}, err
	}
	defer s.Close()
	start := time.Now()
	ops := 0
	for u, err := range logstore.All(ctx, s, logstore.AllOptions{}) {
		if err != nil {
			return Result{}, err
		}
		ops += len(u.Ops)
	}
	elapsed := time.Since(start)
	return Result{Backend: b.name, Measure: "tail read", Writers: 1, Ours: float64(ops) / elapsed.Seconds(),
		Elapsed: elapsed, Note: fmt.Sprintf("%d ops", ops)}, nil
}
