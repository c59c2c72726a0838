package storetest_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// memLog is one log of the in-memory reference store.
type memLog struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every append
	id      logstore.LogID
	next    uint64
	updates []logstore.Update
	horizon uint64
	nodes   map[string]logstore.NodeProgress
}

// memStore is a handle on a memLog: the simplest store that passes the
// suite, which proves the suite itself.
type memStore struct {
	onCommit func(updates, ops int)
	log      *memLog
	limits   logstore.Limits
	closed   chan struct{}
	once     sync.Once
	hook     func()
}

func openMem(ns map[string]*memLog, mu *sync.Mutex, opts logstore.Options) (logstore.Store, error) {
	opts, err := opts.Validate()
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	l := ns[opts.Name]
	if l == nil {
		if !opts.Create {
			return nil, fmt.Errorf("log %q: %w", opts.Name, logstore.ErrNotFound)
		}
		l = &memLog{id: logstore.NewLogID(), next: 1, changed: make(chan struct{}), nodes: map[string]logstore.NodeProgress{}}
		ns[opts.Name] = l
	}
	if !opts.ExpectID.IsZero() && opts.ExpectID != l.id {
		return nil, fmt.Errorf("log %q: %w", opts.Name, logstore.ErrIdentityMismatch)
	}
	return &memStore{log: l, limits: opts.Limits, closed: make(chan struct{}), onCommit: opts.OnCommit}, nil
}

func (s *memStore) check() error {
	select {
	case <-s.closed:
		return logstore.ErrClosed
	default:
		return nil
	}
}

func (s *memStore) ID() logstore.LogID      { return s.log.id }
func (s *memStore) Limits() logstore.Limits { return s.limits }

func (s *memStore) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	if err := s.limits.Check(ops); err != nil {
		return 0, err
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if s.hook != nil {
		s.hook()
	}
	id := l.next
	l.next++
	cp := make([]logstore.Op, len(ops))
	for i, op := range ops {
		cp[i] = logstore.Op{Type: op.Type, Key: slices.Clone(op.Key), Value: slices.Clone(op.Value)}
	}
	l.updates = append(l.updates, logstore.Update{ID: id, Time: time.Now(), Ops: cp})
	close(l.changed)
	l.changed = make(chan struct{})
	if s.onCommit != nil {
		s.onCommit(1, len(ops))
	}
	return id, nil
}

func (s *memStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	return s.read(after, maxOps, func(h uint64) bool { return false })
}

func (s *memStore) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	return s.read(after, maxOps, func(h uint64) bool { return h == horizon })
}

// read serves Read and ReadReplay; replaying says whether a reader below the
// horizon h is a replay it may serve.
func (s *memStore) read(after uint64, maxOps int, replaying func(h uint64) bool) ([]logstore.Update, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	if maxOps <= 0 {
		maxOps = 1000
	}
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	if after != 0 && after < l.horizon && !replaying(l.horizon) {
		return nil, logstore.ErrBehindHorizon
	}
	i, _ := slices.BinarySearchFunc(l.updates, after+1, func(u logstore.Update, id uint64) int { return int(u.ID) - int(id) })
	var out []logstore.Update
	n := 0
	for ; i < len(l.updates) && n < maxOps; i++ {
		out = append(out, l.updates[i])
		n += len(l.updates[i].Ops)
	}
	return out, nil
}

func (s *memStore) Latest(ctx context.Context) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.next - 1, nil
}

func (s *memStore) Horizon(ctx context.Context) (uint64, error) {
	if err := s.check(); err != nil {
		return 0, err
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	return s.log.horizon, nil
}

func (s *memStore) Wait(ctx context.Context, after uint64) (uint64, error) {
	for {
		if err := s.check(); err != nil {
			return 0, err
		}
		s.log.mu.Lock()
		latest, ch := s.log.next-1, s.log.changed
		s.log.mu.Unlock()
		if latest > after {
			return latest, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.closed:
		}
	}
}

func (s *memStore) Rewrite(ctx context.Context, opts logstore.RewriteOptions) (logstore.RewriteStats, error) {
	if err := s.check(); err != nil {
		return logstore.RewriteStats{}, err
	}
	start := time.Now()
	l := s.log
	l.mu.Lock()
	defer l.mu.Unlock()
	through := min(opts.Through, l.next-1)
	kept, removed, examined := storetest.RewriteModel(l.updates, through, opts.DeleteLimit)
	l.updates = kept
	l.horizon = max(l.horizon, min(through, opts.DeleteLimit))
	return logstore.RewriteStats{Examined: examined, Removed: removed, Duration: time.Since(start), Horizon: l.horizon}, nil
}

func (s *memStore) Heartbeat(ctx context.Context, p logstore.NodeProgress) error {
	if err := s.check(); err != nil {
		return err
	}
	if p.Node == "" {
		return logstore.ErrInvalid
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	p.Heartbeat = time.Now()
	s.log.nodes[p.Node] = p
	return nil
}

func (s *memStore) Nodes(ctx context.Context) ([]logstore.NodeProgress, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	s.log.mu.Lock()
	defer s.log.mu.Unlock()
	var out []logstore.NodeProgress
	for _, p := range s.log.nodes {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b logstore.NodeProgress) int { return cmpString(a.Node, b.Node) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (s *memStore) Close() error {
	err := logstore.ErrClosed
	s.once.Do(func() { close(s.closed); err = nil })
	return err
}

// TestMemStore runs the suite against the in-memory reference store, which
// proves the suite's own checks.
func TestMemStore(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Name: "mem",
		NewNamespace: func(t testing.TB) storetest.Opener {
			ns, mu := map[string]*memLog{}, &sync.Mutex{}
			return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
				return openMem(ns, mu, opts)
			}
		},
		InAppend: func(s logstore.Store, f func()) { s.(*memStore).hook = f },
	})
}
