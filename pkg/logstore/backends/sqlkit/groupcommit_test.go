package sqlkit

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// fakeLog commits groups by handing out consecutive ids.
type fakeLog struct {
	mu     sync.Mutex
	next   uint64
	groups []int
	fail   atomic.Bool
	delay  time.Duration
}

func (f *fakeLog) commit(ctx context.Context, group []*Request) (uint64, error) {
	time.Sleep(f.delay)
	if f.fail.Load() {
		return 0, errors.New("connection lost")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.next + 1
	f.next += uint64(len(group))
	f.groups = append(f.groups, len(group))
	return first, nil
}

func TestCommitterGroupsConcurrentAppends(t *testing.T) {
	for _, workers := range []int{1, 2} {
		f := &fakeLog{delay: time.Millisecond}
		var commits, updates atomic.Int64
		c := NewCommitter(f.commit, CommitConfig{Workers: workers, OnCommit: func(u, ops int) {
			commits.Add(1)
			updates.Add(int64(u))
		}})
		const writers, each = 32, 50
		ids := make(chan uint64, writers*each)
		var wg sync.WaitGroup
		for range writers {
			wg.Go(func() {
				for range each {
					id, err := c.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), nil)})
					if err != nil {
						t.Error(err)
						return
					}
					ids <- id
				}
			})
		}
		wg.Wait()
		c.Close()
		close(ids)
		seen := map[uint64]bool{}
		for id := range ids {
			if seen[id] || id == 0 || id > writers*each {
				t.Fatalf("id %d repeated or out of range", id)
			}
			seen[id] = true
		}
		if updates.Load() != writers*each || commits.Load() >= writers*each/2 {
			t.Errorf("workers=%d: %d updates in %d commits; want grouping", workers, updates.Load(), commits.Load())
		}
	}
}

func TestCommitterLimits(t *testing.T) {
	f := &fakeLog{}
	block := make(chan struct{})
	c := NewCommitter(func(ctx context.Context, g []*Request) (uint64, error) {
		<-block
		return f.commit(ctx, g)
	}, CommitConfig{MaxOps: 3})
	var wg sync.WaitGroup
	for range 7 {
		wg.Go(func() {
			if _, err := c.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), nil)}); err != nil {
				t.Error(err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(block)
	wg.Wait()
	c.Close()
	for _, n := range f.groups {
		if n > 3 {
			t.Errorf("group of %d updates over MaxOps 3: %v", n, f.groups)
		}
	}
}

func TestCommitterErrorsAndClose(t *testing.T) {
	f := &fakeLog{}
	c := NewCommitter(f.commit, CommitConfig{})
	f.fail.Store(true)
	if _, err := c.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), nil)}); err == nil {
		t.Error("Append succeeded through a failing commit")
	}
	f.fail.Store(false)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Append(ctx, []logstore.Op{logstore.Set([]byte("k"), nil)}); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("Append with a cancelled context = %v", err)
	}
	c.Close()
	if _, err := c.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), nil)}); !errors.Is(err, logstore.ErrClosed) {
		t.Errorf("Append after Close = %v, want ErrClosed", err)
	}
}
