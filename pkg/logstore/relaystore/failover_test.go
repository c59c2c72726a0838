package relaystore

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
	"github.com/whycache/whycache/pkg/relay"
)

// openAt opens a handle through the relays of url that starts at the
// relay of index first.
func openAt(t testing.TB, url string, first int, opts logstore.Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(int32(first))
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// followLog follows a log as an agent does (Wait, then pages), retrying
// after errors, until it has read through target (once target is set) or
// ctx ends. It returns the ids it read, in order, and the errors it
// retried after.
func followLog(ctx context.Context, s logstore.Store, target func() uint64) (ids []uint64, retried int, err error) {
	var last uint64
	for {
		if tg := target(); tg != 0 && last >= tg {
			return ids, retried, nil
		}
		if ctx.Err() != nil {
			return ids, retried, ctx.Err()
		}
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		_, werr := s.Wait(wctx, last)
		cancel()
		if werr != nil && wctx.Err() == nil {
			retried++
			continue
		}
		for {
			page, err := s.Read(ctx, last, 7)
			if err != nil {
				retried++
				break
			}
			if len(page) == 0 {
				break
			}
			for _, u := range page {
				if u.ID <= last {
					return ids, retried, fmt.Errorf("read id %d after %d", u.ID, last)
				}
				ids = append(ids, u.ID)
				last = u.ID
			}
		}
	}
}

// TestFailover kills the relay that a tailer and a writer use while they
// run: both move to the other relay; the tailer reads every id of the log
// once, in order; every acknowledged write is in the log once, and a write
// that failed is in it at most once.
func TestFailover(t *testing.T) {
	b := dirBacking(t)
	a, other := startRelay(t, b, relay.Config{}), startRelay(t, b, relay.Config{})
	url := relayURL(a, other)
	writer := openAt(t, url, 0, logstore.Options{Name: "log", Create: true})
	tailer := openAt(t, url, 0, logstore.Options{Name: "log"})

	var mu sync.Mutex
	var target uint64
	type result struct {
		ids     []uint64
		retried int
		err     error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	go func() {
		ids, retried, err := followLog(ctx, tailer, func() uint64 { mu.Lock(); defer mu.Unlock(); return target })
		done <- result{ids, retried, err}
	}()

	const perPhase = 150
	acked := map[string]uint64{} // key → id
	var failed []string
	write := func(i int) {
		key := fmt.Sprintf("k%04d", i)
		id, err := writer.Append(ctx, []logstore.Op{logstore.Set([]byte(key), []byte("v"))})
		if err != nil {
			t.Logf("append %s: %v", key, err)
			failed = append(failed, key)
			return
		}
		acked[key] = id
	}
	for i := range perPhase {
		write(i)
	}
	a.kill()
	for i := perPhase; i < 2*perPhase; i++ {
		write(i)
	}
	// The kill falls between two appends: at most the first append after
	// it may fail, if the writer's connection breaks under it.
	if len(acked) < 2*perPhase-1 {
		t.Fatalf("only %d of %d appends acknowledged", len(acked), 2*perPhase)
	}
	if err := writer.Heartbeat(ctx, logstore.NodeProgress{Node: "n1", AppliedID: 1}); err != nil {
		t.Fatalf("heartbeat after the kill: %v", err)
	}
	latest, err := writer.Latest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	target = latest
	mu.Unlock()
	r := <-done
	if r.err != nil {
		t.Fatalf("tailer: %v", r.err)
	}
	// Reads and waits move within the call: the tailer never saw the kill.
	if r.retried != 0 {
		t.Errorf("the tailer's calls failed %d times; want them moved to the other relay", r.retried)
	}
	if writer.cur.Load() != 1 || tailer.cur.Load() != 1 {
		t.Errorf("handles use relays %d and %d after the kill, want 1", writer.cur.Load(), tailer.cur.Load())
	}

	log, err := storetest.ReadAll(ctx, openAt(t, url, 1, logstore.Options{Name: "log"}), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	logIDs := make([]uint64, len(log))
	count := map[string]int{}
	for i, u := range log {
		logIDs[i] = u.ID
		count[string(u.Ops[0].Key)]++
	}
	for key, id := range acked {
		if count[key] != 1 {
			t.Errorf("acknowledged write %s (id %d) is in the log %d times", key, id, count[key])
		}
	}
	for _, key := range failed {
		if count[key] > 1 {
			t.Errorf("failed write %s is in the log %d times", key, count[key])
		}
	}
	if fmt.Sprint(r.ids) != fmt.Sprint(logIDs) {
		t.Errorf("the tailer read ids %v, the log holds %v", r.ids, logIDs)
	}
	t.Logf("%d writes acknowledged, %d failed; the tailer read %d ids and retried %d times", len(acked), len(failed), len(r.ids), r.retried)
}
