package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// testOnCommit checks Options.OnCommit: across its calls, it reports every
// appended update and operation exactly once.
func testOnCommit(t *testing.T, h Harness) {
	var mu sync.Mutex
	var updates, ops, calls int
	s := open(t, h.NewNamespace(t), logstore.Options{Name: "log", Create: true, OnCommit: func(u, o int) {
		mu.Lock()
		defer mu.Unlock()
		updates, ops, calls = updates+u, ops+o, calls+1
	}})
	const n = 32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ops := []logstore.Op{logstore.Set(fmt.Appendf(nil, "k%d", i), nil), logstore.Delete([]byte("x"))}
			if _, err := s.Append(t.Context(), ops); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if updates != n || ops != 2*n || calls < 1 || calls > n {
		t.Errorf("OnCommit reported %d updates and %d ops in %d calls; want %d and %d in 1 to %d", updates, ops, calls, n, 2*n, n)
	}
	t.Logf("%s: %d concurrent appends committed in %d groups", h.Name, n, calls)
}
