package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/internal/agenttest"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// instance is an agent over a local-directory log, for the CLI to talk to.
type instance struct {
	dir, logDir string
}

func startInstance(t *testing.T) *instance {
	t.Helper()
	root := t.TempDir()
	in := &instance{dir: filepath.Join(root, "node"), logDir: filepath.Join(root, "log")}
	agenttest.Start(t, nodeagent.Config{
		Dir: in.dir, NodeName: "node-1", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, in.logDir, opts)
		},
		HeartbeatInterval: 10 * time.Millisecond,
		Logger:            logr.Discard(),
	})
	return in
}

// whycache runs the CLI in this process and returns its output.
func (in *instance) whycache(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"--dir", in.dir, "--store", in.logDir}, args...))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func (in *instance) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := in.whycache(t, args...)
	if err != nil {
		t.Fatalf("whycache %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func TestCommands(t *testing.T) {
	in := startInstance(t)
	// Writes through the agent socket (no --store) and straight to the store.
	cmd := NewRootCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs([]string{"--dir", in.dir, "set", "--wait", "color", "blue"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("set through the agent: %v", err)
	}
	in.must(t, "set", "--wait", "size", "XL")
	in.must(t, "set", "--wait", "bin\tkey", "line1\nline2")
	in.must(t, "set", "--wait", "gone", "x")
	in.must(t, "del", "--wait", "gone", "never-there")

	tests := []struct {
		args    []string
		want    string // exact output, or a substring when contains is set
		contain bool
		wantErr bool
	}{
		{args: []string{"get", "color"}, want: "blue\n"},
		{args: []string{"get", "--raw", "size"}, want: "XL"},
		{args: []string{"get", "gone"}, wantErr: true},
		{args: []string{"get", "nope"}, wantErr: true},
		{args: []string{"keys"}, want: "\"bin\\tkey\"\ncolor\nsize\n"},
		{args: []string{"keys", "--prefix", "co"}, want: "color\n"},
		{args: []string{"dump"}, want: "\"bin\\tkey\"\t\"line1\\nline2\"\ncolor\tblue\nsize\tXL\n"},
		{args: []string{"dump", "-o", "json", "--prefix", "s"}, want: `{"key":"size","value":"XL"}` + "\n"},
		{args: []string{"dump", "-o", "yaml"}, wantErr: true},
		{args: []string{"verify"}, want: "structure and checksums ok", contain: true},
		{args: []string{"verify", "--replay"}, want: "equal to the log's replay through update 5 (3 keys)", contain: true},
		{args: []string{"log", "latest"}, want: "latest\t5\nhorizon\t0\n", contain: true},
		{args: []string{"log", "tail", "--after", "3"}, want: "\tdelete\tgone\n", contain: true},
		{args: []string{"get"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := in.whycache(t, tt.args...)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("succeeded with %q, want an error", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if tt.contain && !strings.Contains(out, tt.want) || !tt.contain && out != tt.want {
				t.Fatalf("output %q, want %q", out, tt.want)
			}
		})
	}

	// The agent records its progress with its next heartbeat.
	deadline := time.Now().Add(10 * time.Second)
	for out := ""; !strings.Contains(out, "node-1\t5\t"); out = in.must(t, "log", "nodes") {
		if time.Now().After(deadline) {
			t.Fatalf("log nodes = %q, want node-1 at 5", out)
		}
		time.Sleep(5 * time.Millisecond)
	}

	var info struct {
		UpdateID uint64
		LiveKeys int
		LogID    string // as the store prints it, not a list of bytes
	}
	if err := json.Unmarshal([]byte(in.must(t, "inspect")), &info); err != nil {
		t.Fatalf("inspect output is not JSON with a string LogID: %v", err)
	}
	if info.UpdateID != 5 || info.LiveKeys != 3 {
		t.Errorf("inspect: update id %d, %d keys; want 5 and 3", info.UpdateID, info.LiveKeys)
	}
	if latest := in.must(t, "log", "latest"); !strings.Contains(latest, "log_id\t"+info.LogID+"\n") {
		t.Errorf("inspect's LogID %q is not the log's id in %q", info.LogID, latest)
	}

	out := in.must(t, "rewrite-history", "--delete-limit", "5")
	// Removed: the set of "gone" (overwritten by its delete), and the two
	// delete markers (at or below the delete limit).
	if !strings.Contains(out, "examined\t6\n") || !strings.Contains(out, "removed\t3\n") || !strings.Contains(out, "horizon\t5\n") {
		t.Errorf("rewrite-history output %q: want 6 examined, 3 removed, horizon 5", out)
	}
	if _, err := in.whycache(t, "rewrite-history", "--through", "2", "--delete-limit", "3"); err == nil {
		t.Error("rewrite-history with --delete-limit above --through succeeded")
	}
}

func TestVerifyReplayFindsAMismatch(t *testing.T) {
	in := startInstance(t)
	in.must(t, "set", "--wait", "a", "1")
	// A file fed from the same log, but with a key the log never had.
	other := filepath.Join(t.TempDir(), agentapi.CacheFileName)
	r, err := cachefile.Open(filepath.Join(in.dir, agentapi.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	logID, applied := r.LogID(), r.UpdateID()
	r.Close()
	w, err := cachefile.OpenWriter(context.Background(), other, logID, cachefile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(applied, []cachefile.Op{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("extra"), Value: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	out, err := in.whycache(t, "verify", "--replay", "--file", other)
	if err == nil || !strings.Contains(err.Error(), `key extra is in the file but not in the log`) {
		t.Fatalf("verify --replay of a wrong file: %v\n%s", err, out)
	}
}

func TestEnvironmentVariables(t *testing.T) {
	in := startInstance(t)
	t.Setenv("WHYCACHE_DIR", in.dir)
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"set", "--wait", "from-env", "yes"})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("set with $WHYCACHE_DIR: %v", err)
	}
	t.Setenv("WHYCACHE_WAIT", "not-a-bool")
	cmd = NewRootCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"set", "k", "v"})
	if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "WHYCACHE_WAIT") {
		t.Fatalf("bad $WHYCACHE_WAIT: %v, want an error naming it", err)
	}
}

func TestDemo(t *testing.T) {
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	root := t.TempDir()
	cmd.SetArgs([]string{"demo", "--root", root})
	if err := cmd.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"get flags/dark-mode on node-b: \"on\"", "flags/beta = off", "Both agents stopped cleanly"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(root, "node-b", agentapi.CacheFileName)); err != nil {
		t.Errorf("demo left no cache file for node-b: %v", err)
	}
}
