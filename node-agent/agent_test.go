package nodeagent_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	ta.waitApplied(t, last)
	// Updates appended while the agent runs are applied too.
	id, err := store.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("k000")), logstore.Set([]byte("new"), []byte("v"))})
	if err != nil {
		t.Fatal(err)
	}
	ta.waitApplied(t, id)
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
	ta.waitApplied(t, lastOK)
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
	ta.waitApplied(t, id1)
	ta.stop(t)
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
	ta2.waitApplied(t, id2)
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
	ta.stop(t)
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
	ta.waitApplied(t, id)
	ta.stop(t)
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
	ta2.waitApplied(t, id)
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
	ta.waitApplied(t, id)
	ta.stop(t)
	// While the node is down: delete b, overwrite a, and rewrite the
	// history past the node, delete markers included.
	store.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("b"))})
	last, _ := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("a"), []byte("2"))})
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	ta2 := start(t, cfg)
	ta2.waitApplied(t, last)
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
	ta.waitApplied(t, last)
	if err := equalMaps(readFile(t, ta.CachePath()), replay(t, store)); err != nil {
		t.Fatal(err)
	}
	if v := ta.metric(t, `whycache_agent_bootstraps_total{reason="behind-horizon"}`); v != "" {
		t.Errorf("a new node bootstrapped (%s) instead of replaying", v)
	}
}
