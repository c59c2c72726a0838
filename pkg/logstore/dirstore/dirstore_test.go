package dirstore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// harness runs the conformance suite on stores with the given options.
func harness(options ...Option) storetest.Harness {
	return storetest.Harness{
		Name: "dir",
		NewNamespace: func(t testing.TB) storetest.Opener {
			dir := t.TempDir()
			return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
				s, err := Open(t.Context(), dir, opts, options...)
				if err != nil {
					return nil, err // not a typed nil in the interface
				}
				return s, nil
			}
		},
		InAppend: func(s logstore.Store, f func()) { s.(*Store).sh.hook.Store(&f) },
		Check:    func(t testing.TB, open storetest.Opener) { checkNamespace(t, open) },
	}
}

// TestConformance runs the conformance suite with small segments, so that
// rolls and multi-segment rewrites happen often.
func TestConformance(t *testing.T) {
	storetest.Run(t, harness(WithSegmentSize(64<<10)))
}

// TestOnCommit checks that OnCommit reports each group commit, with the
// updates and operations it held.
func TestOnCommit(t *testing.T) {
	var mu sync.Mutex
	var updates, ops, calls int
	s, err := Open(t.Context(), t.TempDir(), logstore.Options{Create: true, OnCommit: func(u, o int) {
		mu.Lock()
		defer mu.Unlock()
		updates, ops, calls = updates+u, ops+o, calls+1
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			op := logstore.Set(fmt.Appendf(nil, "k%d", i), nil)
			if _, err := s.Append(t.Context(), []logstore.Op{op, op}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if updates != 20 || ops != 40 || calls < 1 || calls > 20 {
		t.Errorf("OnCommit saw %d updates, %d ops in %d calls; want 20, 40 in 1 to 20", updates, ops, calls)
	}
	t.Logf("20 concurrent appends committed in %d groups", calls)
}
