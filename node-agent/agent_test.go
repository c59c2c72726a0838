package nodeagent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
)

func openLog(t *testing.T, dir string) logstore.Store {
	t.Helper()
	s, err := dirstore.Open(t.Context(), dir, logstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestAgentAppliesTheLog(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	var last uint64
	for i := range 100 {
		id, err := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte(fmt.Sprintf("k%03d", i)), []byte(fmt.Sprint(i)))})
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	ta := start(t, dirConfig(t, logDir, "n1"))
	ta.WaitApplied(t, last)
	// Updates appended while the agent runs are applied too.
	id, err := store.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("k000")), logstore.Set([]byte("new"), []byte("v"))})
	if err != nil {
		t.Fatal(err)
	}
	ta.WaitApplied(t, id)
	if err := equalMaps(readFile(t, ta.CachePath()), replay(t, store)); err != nil {
		t.Fatalf("file differs from the log: %v", err)
	}
}

func TestWriteAPI(t *testing.T) {
	logDir := t.TempDir()
	cfg := dirConfig(t, logDir, "n1")
	cfg.Limits = logstore.Limits{MaxKeySize: 16, MaxValueSize: 64, MaxUpdateSize: 256, MaxUpdateOps: 8}
	ta := start(t, cfg)
	big := strings.Repeat("v", 65)
	tests := []struct {
		name     string
		req      agentapi.UpdateRequest
		wantCode string // "" for success
	}{
		{"set", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "set", Key: []byte("a"), Value: []byte("1")}}}, ""},
		{"set empty value", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "set", Key: []byte("e")}}}, ""},
		{"set multi with wait", agentapi.UpdateRequest{Wait: true, Ops: []agentapi.Op{
			{Op: "set", Key: []byte("b"), Value: []byte("2")}, {Op: "set", Key: []byte("c"), Value: []byte("3")}}}, ""},
		{"delete missing key", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "delete", Key: []byte("nope")}}}, ""},
		{"no ops", agentapi.UpdateRequest{}, agentapi.CodeInvalid},
		{"empty key", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "set", Key: []byte{}, Value: []byte("x")}}}, agentapi.CodeInvalid},
		{"unknown op", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "append", Key: []byte("a")}}}, agentapi.CodeInvalid},
		{"delete with value", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "delete", Key: []byte("a"), Value: []byte("x")}}}, agentapi.CodeInvalid},
		{"key too large", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "set", Key: []byte(strings.Repeat("k", 17)), Value: []byte("x")}}}, agentapi.CodeTooLarge},
		{"value too large", agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: "set", Key: []byte("a"), Value: []byte(big)}}}, agentapi.CodeTooLarge},
		{"too many ops", agentapi.UpdateRequest{Ops: make9Ops()}, agentapi.CodeTooLarge},
	}
	var lastOK uint64
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ur, er := ta.update(t, tt.req)
			switch {
			case tt.wantCode == "" && er != nil:
				t.Fatalf("error %s: %s", er.Code, er.Error)
			case tt.wantCode != "" && er == nil:
				t.Fatalf("succeeded with update %d, want error %s", ur.UpdateID, tt.wantCode)
			case er != nil && er.Code != tt.wantCode:
				t.Fatalf("error %s (%s), want %s", er.Code, er.Error, tt.wantCode)
			case er != nil && er.Error == "":
				t.Fatal("error without a message")
			}
			if er == nil {
				if ur.UpdateID <= lastOK {
					t.Errorf("update id %d after %d", ur.UpdateID, lastOK)
				}
				lastOK = ur.UpdateID
				if tt.req.Wait && (!ur.Applied || ta.AppliedID() < ur.UpdateID) {
					t.Errorf("wait: applied=%v, agent at %d, update %d", ur.Applied, ta.AppliedID(), ur.UpdateID)
				}
			}
		})
	}
	// Malformed bodies.
	for _, body := range []string{"", "{", `{"ops": 3}`, `{"ops": [], "extra": 1}`, `{"ops":[{"op":"set","key":"!!"}]}`} {
		code, b := ta.post(t, []byte(body))
		if code != http.StatusBadRequest {
			t.Errorf("body %q: status %d (%s), want 400", body, code, b)
		}
	}
	// A body over the size limit is refused before it is read whole.
	code, _ := ta.post(t, []byte(`{"ops":[{"op":"set","key":"YQ==","value":"`+strings.Repeat("A", 1<<20)+`"}]}`))
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", code)
	}
	// Only the successful updates reached the log and the file.
	ta.WaitApplied(t, lastOK)
	got := readFile(t, ta.CachePath())
	want := map[string]string{"a": "1", "e": "", "b": "2", "c": "3"}
	if err := equalMaps(got, want); err != nil {
		t.Fatalf("file after the writes: %v", err)
	}
	if v := ta.metric(t, `whycache_agent_write_requests_total{result="too_large"}`); v != "4" {
		t.Errorf("too_large write requests metric = %q, want 4", v)
	}
}

func make9Ops() []agentapi.Op {
	ops := make([]agentapi.Op, 9)
	for i := range ops {
		ops[i] = agentapi.Op{Op: "set", Key: []byte{'k', byte('0' + i)}, Value: []byte("v")}
	}
	return ops
}

func TestHealthAndMetrics(t *testing.T) {
	logDir := t.TempDir()
	ta := start(t, dirConfig(t, logDir, "n1"))
	ur, er := ta.update(t, agentapi.UpdateRequest{Wait: true, Ops: []agentapi.Op{{Op: "set", Key: []byte("k"), Value: []byte("v")}}})
	if er != nil {
		t.Fatal(er.Error)
	}
	if code, body := ta.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := ta.get(t, "/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d %s", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range []struct{ name, want string }{
		{"whycache_agent_applied_id", fmt.Sprint(ur.UpdateID)},
		{"whycache_agent_head_id", fmt.Sprint(ur.UpdateID)},
		{"whycache_agent_lag_ids", "0"},
		{"whycache_agent_cache_file_keys", "1"},
		{"whycache_agent_ready", "1"},
		{`whycache_agent_write_requests_total{result="ok"}`, "1"},
		{"whycache_agent_group_commit_updates_count", "1"},
	} {
		if got := ta.metric(t, m.name); got != m.want {
			t.Errorf("%s = %q, want %q", m.name, got, m.want)
		}
	}
	_, body := ta.get(t, "/metrics")
	for _, name := range []string{"whycache_build_info{", "whycache_agent_lag_seconds", "whycache_agent_apply_batch_ops_bucket",
		"whycache_agent_cache_file_bytes", "whycache_agent_cache_file_garbage_ratio", "whycache_agent_bootstrap_duration_seconds"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
}

func TestRestartResumesFromTheFile(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	cfg := dirConfig(t, logDir, "n1")
	ta := start(t, cfg)
	id1, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("1"))})
	ta.WaitApplied(t, id1)
	ta.Stop(t)
	info, err := cachefile.Inspect(ta.CachePath())
	if err != nil {
		t.Fatal(err)
	}
	if !info.Clean || info.UpdateID != id1 {
		t.Fatalf("after a graceful stop: clean=%v updateID=%d, want clean at %d", info.Clean, info.UpdateID, id1)
	}
	id2, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("b"), []byte("2"))})
	ta2 := start(t, cfg)
	if got := ta2.AppliedID(); got < id1 {
		t.Fatalf("restarted agent starts at %d, want the file's %d (no reload from scratch)", got, id1)
	}
	ta2.WaitApplied(t, id2)
	if v := ta2.metric(t, "whycache_agent_applied_updates_total"); v != "1" {
		t.Errorf("restarted agent applied %s updates, want 1 (only the new one)", v)
	}
	if err := equalMaps(readFile(t, ta2.CachePath()), map[string]string{"a": "1", "b": "2"}); err != nil {
		t.Fatal(err)
	}
}

func TestRefusesAFileFromAnotherLog(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "n1")
	ta := start(t, cfg)
	ta.Stop(t)
	// The same instance directory, pointed at a new log with another identity.
	cfg.OpenStore = dirConfig(t, t.TempDir(), "n1").OpenStore
	a, err := nodeagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(t.Context())
	if !errors.Is(err, cachefile.ErrIdentityMismatch) {
		t.Fatalf("Run = %v, want an error matching ErrIdentityMismatch", err)
	}
}

func TestSecondAgentOnOneDirectoryFails(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "n1")
	start(t, cfg)
	a, err := nodeagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HealthAddr = ""
	if err := a.Run(t.Context()); !errors.Is(err, cachefile.ErrLocked) {
		t.Fatalf("second agent: Run = %v, want ErrLocked", err)
	}
}

func TestCorruptFileIsRebuilt(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	cfg := dirConfig(t, logDir, "n1")
	ta := start(t, cfg)
	id, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("1")), logstore.Set([]byte("b"), []byte("2"))})
	ta.WaitApplied(t, id)
	ta.Stop(t)
	// Scribble over the header.
	f, err := os.OpenFile(ta.CachePath(), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("garbage!garbage!"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ta2 := start(t, cfg)
	ta2.WaitApplied(t, id)
	if err := equalMaps(readFile(t, ta2.CachePath()), replay(t, store)); err != nil {
		t.Fatal(err)
	}
	aside, _ := filepath.Glob(ta2.CachePath() + ".corrupt-*")
	if len(aside) != 1 {
		t.Errorf("corrupt file moved aside: %v, want one file", aside)
	}
}

func TestBehindHorizonBootstraps(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	cfg := dirConfig(t, logDir, "n1")
	ta := start(t, cfg)
	for _, k := range []string{"a", "b", "c"} {
		if _, err := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte(k), []byte("1"))}); err != nil {
			t.Fatal(err)
		}
	}
	id, _ := store.Latest(t.Context())
	ta.WaitApplied(t, id)
	ta.Stop(t)
	// While the node is down: delete b, overwrite a, and rewrite the
	// history past the node, delete markers included.
	store.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("b"))})
	last, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("2"))})
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	ta2 := start(t, cfg)
	ta2.WaitApplied(t, last)
	if err := equalMaps(readFile(t, ta2.CachePath()), map[string]string{"a": "2", "c": "1"}); err != nil {
		t.Fatalf("after bootstrap: %v", err)
	}
	if v := ta2.metric(t, `whycache_agent_bootstraps_total{reason="behind-horizon"}`); v != "1" {
		t.Errorf("behind-horizon bootstraps = %q, want 1", v)
	}
}

func TestNewNodeReplaysARewrittenLogInPages(t *testing.T) {
	logDir := t.TempDir()
	store := openLog(t, logDir)
	for i := range 20 {
		k := []byte(fmt.Sprintf("k%02d", i%7))
		op := logstore.Set(k, []byte(fmt.Sprint(i)))
		if i%3 == 2 {
			op = logstore.Delete(k)
		}
		if _, err := store.Append(t.Context(), []logstore.Op{op}); err != nil {
			t.Fatal(err)
		}
	}
	last, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("last"), []byte("x"))})
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last - 1, DeleteLimit: last - 1}); err != nil {
		t.Fatal(err)
	}
	if h, _ := store.Horizon(t.Context()); h == 0 {
		t.Fatal("the rewrite left the horizon at 0")
	}
	// A new node reads the rewritten log two operations at a time: every
	// page after the first stands below the horizon.
	cfg := dirConfig(t, logDir, "new")
	cfg.PageOps = 2
	ta := start(t, cfg)
	ta.WaitApplied(t, last)
	if err := equalMaps(readFile(t, ta.CachePath()), replay(t, store)); err != nil {
		t.Fatal(err)
	}
	if v := ta.metric(t, `whycache_agent_bootstraps_total{reason="behind-horizon"}`); v != "" {
		t.Errorf("a new node bootstrapped (%s) instead of replaying", v)
	}
}

func TestBatchAPI(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "n1")
	cfg.Limits = logstore.Limits{MaxKeySize: 16, MaxValueSize: 64}
	ta := start(t, cfg)
	req := agentapi.BatchRequest{Updates: []agentapi.UpdateRequest{
		{Ops: []agentapi.Op{{Op: "set", Key: []byte("a"), Value: []byte("1")}}},
		{Ops: []agentapi.Op{{Op: "set", Key: []byte{}, Value: []byte("x")}}},
		{Ops: []agentapi.Op{{Op: "set", Key: []byte("b"), Value: []byte(strings.Repeat("v", 65))}}},
		{Wait: true, Ops: []agentapi.Op{{Op: "set", Key: []byte("c"), Value: []byte("3")}, {Op: "delete", Key: []byte("a")}}},
	}}
	body, _ := json.Marshal(req)
	hc := unixClient(ta.SocketPath())
	resp, err := hc.Post("http://agent"+agentapi.PathBatch, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var br agentapi.BatchResponse
	if err := json.NewDecoder(resp.Body).Decode(&br); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	if len(br.Results) != 4 {
		t.Fatalf("%d results for 4 updates", len(br.Results))
	}
	wantCodes := []string{"", agentapi.CodeInvalid, agentapi.CodeTooLarge, ""}
	for i, r := range br.Results {
		code := ""
		if r.Error != nil {
			code = r.Error.Code
		}
		if code != wantCodes[i] || (code == "") == (r.UpdateID == 0) {
			t.Errorf("result %d = %+v (error %+v), want code %q", i, r, r.Error, wantCodes[i])
		}
	}
	if br.Results[0].UpdateID == br.Results[3].UpdateID || !br.Results[3].Applied {
		t.Errorf("results %+v and %+v: want distinct ids, the second applied", br.Results[0], br.Results[3])
	}
	ta.WaitApplied(t, max(br.Results[0].UpdateID, br.Results[3].UpdateID))
	// The updates of a batch are independent: their ids say their order.
	want := map[string]string{"c": "3"}
	if br.Results[0].UpdateID > br.Results[3].UpdateID {
		want["a"] = "1"
	}
	if err := equalMaps(readFile(t, ta.CachePath()), want); err != nil {
		t.Fatal(err)
	}
	// Envelope errors.
	tests := []struct {
		body string
		want int
	}{
		{`{"updates": 3}`, http.StatusBadRequest},
		{`{"updates": []} trailing`, http.StatusBadRequest},
		{`{"updates": [` + strings.Repeat(`{"ops":[]},`, agentapi.MaxBatchUpdates) + `{"ops":[]}]}`, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		resp, err := hc.Post("http://agent"+agentapi.PathBatch, "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("body %.40q…: status %d, want %d", tt.body, resp.StatusCode, tt.want)
		}
	}
}

// TestClientGathersConcurrentWrites writes from many goroutines through the
// client library: every write gets its own id, and they reach the agent in
// fewer requests than writes.
func TestClientGathersConcurrentWrites(t *testing.T) {
	ta := start(t, dirConfig(t, t.TempDir(), "n1"))
	c, err := whycache.Open(filepath.Dir(ta.CachePath()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const writers, each = 64, 20
	ids := make([][]uint64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				id, err := c.Set(t.Context(), []byte(fmt.Sprintf("w%d/%d", w, i)), []byte("v"))
				if err != nil {
					t.Error(err)
					return
				}
				ids[w] = append(ids[w], id)
			}
		})
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for _, l := range ids {
		for _, id := range l {
			if seen[id] {
				t.Fatalf("update id %d given to two writes", id)
			}
			seen[id] = true
		}
	}
	if len(seen) != writers*each {
		t.Fatalf("%d ids for %d writes", len(seen), writers*each)
	}
	n, _ := strconv.Atoi(ta.metric(t, "whycache_agent_write_batch_updates_count"))
	if n == 0 || n >= writers*each {
		t.Errorf("%d batch requests for %d concurrent writes, want fewer requests than writes", n, writers*each)
	}
	t.Logf("%d writes in %d requests", writers*each, n)
}
