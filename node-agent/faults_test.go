package nodeagent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
)

// failingHeartbeats is a real store whose heartbeats fail, as when the
// store briefly takes reads but not writes.
type failingHeartbeats struct {
	logstore.Store
	calls *atomic.Int64
}

func (s failingHeartbeats) Heartbeat(context.Context, logstore.NodeProgress) error {
	s.calls.Add(1)
	return errors.New("injected: the store does not take heartbeats")
}

// TestFailingHeartbeatsDoNotHoldApplying: with every heartbeat failing and
// a retry pause of an hour, writes that wait for the local apply still
// return, the sync loop never pauses, and the agent stays ready. An agent
// whose heartbeat stands in the sync loop's way sleeps for the hour after
// the first failure, and the first write times out.
func TestFailingHeartbeatsDoNotHoldApplying(t *testing.T) {
	logDir := t.TempDir()
	var calls atomic.Int64
	cfg := dirConfig(t, logDir, "n1")
	cfg.RetryInterval = time.Hour
	cfg.OpenStore = func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
		s, err := dirstore.Open(ctx, logDir, opts)
		if err != nil {
			return nil, err
		}
		return failingHeartbeats{s, &calls}, nil
	}
	ta := start(t, cfg)
	waitFor(t, "a failed heartbeat", func() bool { return calls.Load() > 0 })
	for i := range 20 {
		ur, er := ta.update(t, agentapi.UpdateRequest{Wait: true, Ops: []agentapi.Op{{Op: "set", Key: []byte(fmt.Sprint("k", i)), Value: []byte("v")}}})
		if er != nil {
			t.Fatalf("write %d: %s: %s", i, er.Code, er.Error)
		}
		if !ur.Applied {
			t.Fatalf("write %d: waited, but not applied", i)
		}
	}
	waitReady(t, ta)
	if v := ta.metric(t, "whycache_agent_sync_retries_total"); v != "0" {
		t.Errorf("sync loop paused %s times, want 0", v)
	}
	if v, _ := strconv.Atoi(ta.metric(t, "whycache_agent_heartbeat_errors_total")); v < 1 {
		t.Errorf("heartbeat errors metric = %d, want at least 1", v)
	}
}

// waitFor polls cond until it holds, failing the test after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitReady waits until /readyz answers 200.
func waitReady(t *testing.T, ta *testAgent) {
	t.Helper()
	waitFor(t, "/readyz 200", func() bool {
		code, _ := ta.get(t, "/readyz")
		return code == http.StatusOK
	})
}

// metricAtLeast waits until a counter reaches n.
func metricAtLeast(t *testing.T, ta *testAgent, name string, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%s >= %d", name, n), func() bool {
		v, _ := strconv.Atoi(ta.metric(t, name))
		return v >= n
	})
}

// copyTree copies the regular files under src to dst, in place: a file that
// exists at dst is truncated and rewritten (same inode), as `cp -a src/.
// dst/` does, so that processes holding the files open see the new content.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// gatedStore is a real store whose reads can be held at a gate, so that a
// test can change the log while the agent is known not to be looking.
type gatedStore struct {
	logstore.Store
	g *gate
}

type gate struct {
	mu      sync.Mutex
	closed  chan struct{} // nil while open
	waiting atomic.Int64
}

func (g *gate) pass() {
	g.mu.Lock()
	ch := g.closed
	g.mu.Unlock()
	if ch != nil {
		g.waiting.Add(1)
		<-ch
		g.waiting.Add(-1)
	}
}

func (g *gate) close() {
	g.mu.Lock()
	g.closed = make(chan struct{})
	g.mu.Unlock()
}

func (g *gate) open() {
	g.mu.Lock()
	close(g.closed)
	g.closed = nil
	g.mu.Unlock()
}

func (s gatedStore) Read(ctx context.Context, after uint64, maxOps int) ([]logstore.Update, error) {
	s.g.pass()
	return s.Store.Read(ctx, after, maxOps)
}

func (s gatedStore) ReadReplay(ctx context.Context, after uint64, maxOps int, horizon uint64) ([]logstore.Update, error) {
	s.g.pass()
	return s.Store.ReadReplay(ctx, after, maxOps, horizon)
}

func (s gatedStore) Latest(ctx context.Context) (uint64, error) {
	s.g.pass()
	return s.Store.Latest(ctx)
}

func (s gatedStore) Wait(ctx context.Context, after uint64) (uint64, error) {
	s.g.pass()
	return s.Store.Wait(ctx, after)
}

// TestLogRestoredUnderARunningAgent restores a directory log in place from
// a copy taken two updates earlier while the agent runs, then writes again:
// the new writes reuse the ids of the lost ones. Whether the agent first
// sees the log end below its file, or a write reusing an id it had applied,
// or the log past its file with other updates under the same ids, it
// rebuilds the file from the log, says why, and applies every acknowledged
// write.
func TestLogRestoredUnderARunningAgent(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		// after the restore: write through the agent (waiting for the
		// apply), or append past the file's applied id behind its back
		through bool
		settle  bool // wait for the agent to notice the restore before writing
		blind   bool // hold the agent's reads while the log is restored and written
		down    bool // stop the agent while the log is restored and written
	}{
		{name: "agent notices the shorter log", reason: "ahead-of-log", through: true, settle: true},
		{name: "write through the agent reuses an id", reason: "ahead-of-log", through: true},
		{name: "log overtakes the file unseen", reason: "log-diverged", blind: true},
		{name: "log overtakes the file while the node is down", reason: "log-diverged", down: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logDir := t.TempDir()
			store := openLog(t, logDir)
			g := &gate{}
			cfg := dirConfig(t, logDir, "n1")
			cfg.OpenStore = func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
				s, err := dirstore.Open(ctx, logDir, opts)
				if err != nil {
					return nil, err
				}
				return gatedStore{s, g}, nil
			}
			ta := start(t, cfg)
			appendKV(t, store, "a", "1")
			id := appendKV(t, store, "b", "1")
			ta.WaitApplied(t, id)
			backup := t.TempDir()
			copyTree(t, logDir, backup)
			appendKV(t, store, "c", "lost")
			id = appendKV(t, store, "a", "lost")
			ta.WaitApplied(t, id)
			waitReady(t, ta)

			switch {
			case tt.blind:
				g.close()
				waitFor(t, "the agent to wait at the gate", func() bool { return g.waiting.Load() > 0 })
			case tt.down:
				ta.Stop(t)
			}
			copyTree(t, backup, logDir) // the restore
			if tt.settle {
				metricAtLeast(t, ta, `whycache_agent_file_unusable_total{reason="ahead-of-log"}`, 1)
			}
			var last uint64
			if tt.through {
				ur, er := ta.update(t, agentapi.UpdateRequest{Wait: true, Ops: []agentapi.Op{{Op: "set", Key: []byte("d"), Value: []byte("new")}}})
				if er != nil {
					t.Fatalf("write after the restore: %s: %s", er.Code, er.Error)
				}
				if ur.UpdateID > id {
					t.Fatalf("write after the restore got id %d; the test wants a reused id (<= %d)", ur.UpdateID, id)
				}
				last = ur.UpdateID
				// Read-your-writes: once acknowledged as applied, it is in
				// the file on this node.
				if got := readFileOrEmpty(ta.CachePath()); !ur.Applied || got["d"] != "new" {
					t.Fatalf("write %d acknowledged (applied=%v), but the file holds %v", ur.UpdateID, ur.Applied, got)
				}
			} else {
				for _, k := range []string{"d", "e", "f"} {
					last = appendKV(t, store, k, "new")
				}
				if last <= id {
					t.Fatalf("the log reached %d, not past the file's %d", last, id)
				}
			}
			metric := fmt.Sprintf(`whycache_agent_file_unusable_total{reason=%q}`, tt.reason)
			switch {
			case tt.blind:
				g.open()
			case tt.down:
				ta = start(t, cfg)
				metric = fmt.Sprintf(`whycache_agent_file_decisions_total{action="replay",reason=%q}`, tt.reason)
			}
			metricAtLeast(t, ta, metric, 1)
			ta.WaitApplied(t, last)
			waitReady(t, ta)
			want := replay(t, store)
			if want["c"] != "" || want["d"] != "new" {
				t.Fatalf("the log after the restore is %v", want)
			}
			if err := equalMaps(readFile(t, ta.CachePath()), want); err != nil {
				t.Fatalf("file differs from the restored log: %v", err)
			}
		})
	}
}

func appendKV(t *testing.T, s logstore.Store, k, v string) uint64 {
	t.Helper()
	id, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte(k), []byte(v))})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestFileChangedUnderTheAgent removes, replaces and truncates the cache
// file under a running agent: it goes not ready, says why, and puts back a
// file with everything applied, which readers that open the path anew see,
// updates applied since included.
func TestFileChangedUnderTheAgent(t *testing.T) {
	remove := func(t *testing.T, path string) {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		metric string
		quiet  bool // no updates after the change: the periodic check finds it
	}{
		{"removed while the log is quiet", remove, `whycache_agent_file_changed_total{state="missing"}`, true},
		{"removed", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, `whycache_agent_file_changed_total{state="missing"}`, false},
		{"replaced", func(t *testing.T, path string) {
			other := filepath.Join(filepath.Dir(path), "other")
			if err := os.WriteFile(other, []byte("not a cache file"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(other, path); err != nil {
				t.Fatal(err)
			}
		}, `whycache_agent_file_changed_total{state="replaced"}`, false},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 4096); err != nil {
				t.Fatal(err)
			}
		}, `whycache_agent_file_unusable_total{reason="file-truncated"}`, false},
		{"truncated to nothing", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, `whycache_agent_file_unusable_total{reason="file-truncated"}`, false},
		{"overwritten in place", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteAt(make([]byte, 128), 0); err != nil {
				t.Fatal(err)
			}
		}, `whycache_agent_file_unusable_total{reason="file-overwritten"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logDir := t.TempDir()
			store := openLog(t, logDir)
			cfg := dirConfig(t, logDir, "n1")
			cfg.CheckInterval = time.Hour // only updates make it look
			if tt.quiet {
				cfg.CheckInterval = 20 * time.Millisecond
			}
			ta := start(t, cfg)
			var id uint64
			for i := range 50 {
				id = appendKV(t, store, fmt.Sprint("k", i), "v")
			}
			ta.WaitApplied(t, id)
			waitReady(t, ta)
			// A reader that has the file open follows it to the new one,
			// unless the content under it is gone (a truncated mapping is
			// not safe to read).
			var reader *cachefile.Reader
			if !strings.HasPrefix(tt.metric, "whycache_agent_file_unusable_total") {
				var err error
				if reader, err = cachefile.Open(ta.CachePath()); err != nil {
					t.Fatal(err)
				}
				defer reader.Close()
			}
			tt.change(t, ta.CachePath())
			if !tt.quiet {
				id = appendKV(t, store, "after", "v")
			}
			metricAtLeast(t, ta, tt.metric, 1)
			ta.WaitApplied(t, id)
			waitReady(t, ta)
			want := replay(t, store)
			waitFor(t, "a whole file at the path", func() bool {
				return equalMaps(readFileOrEmpty(ta.CachePath()), want) == nil
			})
			if reader != nil {
				waitFor(t, "the open reader to see the update applied after the change", func() bool {
					_, err := reader.Get([]byte("after"))
					return tt.quiet || err == nil
				})
			}
		})
	}
}

// readFileOrEmpty is readFile for a path that may hold no usable file yet.
func readFileOrEmpty(path string) map[string]string {
	m := map[string]string{}
	r, err := cachefile.Open(path)
	if err != nil {
		return m
	}
	defer r.Close()
	for k, v := range r.All() {
		m[string(k)] = string(v)
	}
	return m
}

// listedSnapshots is a snapshot source for the agent's decision: it offers
// a "snapshot" at the log's head once the test says so, made by a real
// replay of the log (the S3 source is tested with its own package).
type listedSnapshots struct {
	offer    *atomic.Bool
	installs *atomic.Int64
}

func (s listedSnapshots) NewestSnapshot(ctx context.Context, store logstore.Store) (uint64, bool, error) {
	if !s.offer.Load() {
		return 0, false, nil
	}
	head, err := store.Latest(ctx)
	return head, err == nil, err
}

func (s listedSnapshots) Bootstrap(ctx context.Context, store logstore.Store, dir string, opts cachefile.Options) (string, error) {
	s.installs.Add(1)
	return nodeagent.ReplayBootstrapper{}.Bootstrap(ctx, store, dir, opts)
}

// TestNewNodeWaitsForASnapshotAboveTheHorizon: a node joining a log whose
// history was rewritten, with a snapshot source that has nothing yet, does
// not replay the log: it waits, not ready, and says why; once a snapshot is
// offered it installs it and tails on.
func TestNewNodeWaitsForASnapshotAboveTheHorizon(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	appendKV(t, store, "a", "1")
	if _, err := store.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("a"))}); err != nil {
		t.Fatal(err)
	}
	last := appendKV(t, store, "b", "1")
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	var offer atomic.Bool
	var installs atomic.Int64
	cfg := dirConfig(t, logDir, "new")
	cfg.Bootstrap = listedSnapshots{&offer, &installs}
	ta := start(t, cfg)
	metricAtLeast(t, ta, `whycache_agent_file_decisions_total{action="wait",reason="new"}`, 1)
	if code, body := ta.get(t, "/readyz"); code == http.StatusOK {
		t.Fatalf("/readyz = 200 (%s) while waiting for a snapshot", body)
	}
	// The socket, all that a pod reading the directory reaches, says so
	// too, and why.
	if st := ta.status(t); st.Ready || st.Reason == "" {
		t.Fatalf("status while waiting for a snapshot: %+v, want not ready with a reason", st)
	}
	if ta.AppliedID() != 0 || installs.Load() != 0 {
		t.Fatalf("waiting agent at update %d after %d installs; want 0, 0", ta.AppliedID(), installs.Load())
	}
	offer.Store(true)
	ta.WaitApplied(t, last)
	waitReady(t, ta)
	if st := ta.status(t); !st.Ready || st.Reason != "" || st.AppliedID != last {
		t.Fatalf("status once ready: %+v, want ready at %d with no reason", st, last)
	}
	if err := equalMaps(readFile(t, ta.CachePath()), map[string]string{"b": "1"}); err != nil {
		t.Fatal(err)
	}
	if v := ta.metric(t, `whycache_agent_file_decisions_total{action="snapshot",reason="new"}`); v != "1" {
		t.Errorf("snapshot decisions = %q, want 1", v)
	}
}
