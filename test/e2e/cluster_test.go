package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
)

// writerLog records what one writer did to its own keys: the last
// acknowledged operation of each key, and the keys whose last operation
// failed without an answer (it may or may not be in the log).
type writerLog struct {
	final     map[string]*string // nil value: deleted
	uncertain map[string]bool
	acked     int
}

// runWriter writes n updates to keys of its own (prefix), overwriting and
// deleting, and records what was acknowledged.
func runWriter(ctx context.Context, c *whycache.Client, prefix string, n int) *writerLog {
	wl := &writerLog{final: map[string]*string{}, uncertain: map[string]bool{}}
	for i := range n {
		key := fmt.Sprintf("%s/%d", prefix, i%40)
		var err error
		var val *string
		if i%7 == 6 {
			_, err = c.Delete(ctx, []byte(key))
		} else {
			v := fmt.Sprintf("%s-%d", key, i)
			val = &v
			_, err = c.Set(ctx, []byte(key), []byte(v))
		}
		if err != nil {
			if ctx.Err() != nil {
				return wl
			}
			wl.uncertain[key] = true
			time.Sleep(20 * time.Millisecond)
			continue
		}
		wl.final[key] = val
		delete(wl.uncertain, key)
		wl.acked++
	}
	return wl
}

// TestClusterOfAgentProcesses runs three agent processes as three nodes
// over one log, writes concurrently through the agents and straight to the
// store, kills one agent with SIGKILL mid-stream and restarts it, and checks
// that every node ends equal to the log's full replay and holds every
// acknowledged write.
func TestClusterOfAgentProcesses(t *testing.T) {
	const nodes, perWriter = 3, 300
	forEachBackend(t, func(t *testing.T, url string) {
		store := openStore(t, url) // creates the log, so the agents join the same one
		root := t.TempDir()
		procs := make([]*agentProc, nodes)
		dirs := make([]string, nodes)
		for i := range nodes {
			dirs[i] = filepath.Join(root, fmt.Sprintf("node-%d", i))
			procs[i] = startProc(t, dirs[i], url, fmt.Sprintf("node-%d", i))
		}
		writers := []*whycache.Client{
			openClient(t, dirs[0]), openClient(t, dirs[1]), openClient(t, dirs[2]),
			openClient(t, dirs[0], whycache.WithStore(store)),
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
		defer cancel()
		logs := make([]*writerLog, len(writers))
		var wg sync.WaitGroup
		for i, c := range writers {
			wg.Go(func() { logs[i] = runWriter(ctx, c, fmt.Sprintf("w%d", i), perWriter) })
		}
		// Mid-stream, kill node 1's agent and bring it back.
		waitFor(t, time.Minute, func() error {
			if latest, _ := store.Latest(ctx); latest < perWriter {
				return fmt.Errorf("log at %d updates", latest)
			}
			return nil
		})
		procs[1].kill(t)
		time.Sleep(300 * time.Millisecond)
		procs[1] = startProc(t, dirs[1], url, "node-1")
		wg.Wait()

		latest, err := store.Latest(ctx)
		if err != nil {
			t.Fatal(err)
		}
		acked := 0
		for _, wl := range logs {
			acked += wl.acked
		}
		if acked < perWriter*len(writers)/2 {
			t.Fatalf("only %d writes acknowledged", acked)
		}
		for i, dir := range dirs {
			waitApplied(t, dir, latest)
			out, err := run(t, []string{"WHYCACHE_STORE=" + url}, "verify", "--replay", "--dir", dir)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			} else {
				t.Logf("node %d: %s", i, out)
			}
			state := fileState(t, dir)
			for w, wl := range logs {
				for key, val := range wl.final {
					if wl.uncertain[key] {
						continue
					}
					got, ok := state[key]
					switch {
					case val == nil && ok:
						t.Errorf("node %d: writer %d deleted %s, file has %q", i, w, key, got)
					case val != nil && got != *val:
						t.Errorf("node %d: writer %d set %s=%q, file has %q (present %v)", i, w, key, *val, got, ok)
					}
				}
			}
		}
		t.Logf("%d updates in the log, %d acknowledged writes checked on %d nodes", latest, acked, nodes)
	})
}

// waitApplied waits until the cache file in dir holds update id.
func waitApplied(t *testing.T, dir string, id uint64) {
	t.Helper()
	r, err := cachefile.Open(filepath.Join(dir, agentapi.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	waitFor(t, time.Minute, func() error {
		if got := r.UpdateID(); got < id {
			return fmt.Errorf("%s applied %d, want %d", dir, got, id)
		}
		return nil
	})
}
