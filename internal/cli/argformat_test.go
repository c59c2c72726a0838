package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/internal/agenttest"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// TestBinaryArguments writes and reads a binary key and value given in hex
// and base64.
func TestBinaryArguments(t *testing.T) {
	in := startInstance(t)
	in.must(t, "set", "--wait", "--hex", "00ff0a", "010200")
	if got := in.must(t, "get", "--raw", "--base64", "AP8K"); got != "\x01\x02\x00" {
		t.Fatalf("get = %q, want 01 02 00", got)
	}
	if got := in.must(t, "keys"); got != "\"\\x00\\xff\\n\"\n" {
		t.Fatalf("keys = %q", got)
	}
	in.must(t, "del", "--wait", "--base64", "AP8K")
	if got := in.must(t, "keys"); got != "" {
		t.Fatalf("keys after del = %q", got)
	}
	for _, args := range [][]string{
		{"set", "--hex", "zz", "00"},
		{"set", "--hex", "00", "0"},
		{"get", "--base64", "AP8"},
		{"del", "--hex", "00", "xyz"},
	} {
		if _, err := in.whycache(t, args...); err == nil || !strings.Contains(err.Error(), "is not") {
			t.Errorf("%v: %v, want an error naming the bad argument", args, err)
		}
	}
	if _, err := in.whycache(t, "set", "--hex", "--base64", "00", "00"); err == nil {
		t.Error("--hex with --base64: no error")
	}
}

// TestSetWaitTimeout writes straight to the store while the node's agent
// is stopped: set --wait gives up after --wait-timeout, saying the update is
// durable.
func TestSetWaitTimeout(t *testing.T) {
	root := t.TempDir()
	dir, logDir := filepath.Join(root, "node"), filepath.Join(root, "log")
	a := agenttest.Start(t, nodeagent.Config{
		Dir: dir, NodeName: "node-1", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, logDir, opts)
		},
		Logger: logr.Discard(),
	})
	a.Stop(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // the test's own bound
	defer cancel()
	cmd := NewRootCommand()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	cmd.SetArgs([]string{"--dir", dir, "--store", logDir, "set", "--wait", "--wait-timeout", "100ms", "k", "v"})
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "is durable") || !strings.Contains(err.Error(), "--wait-timeout") {
		t.Fatalf("set --wait with the agent stopped: %v, want a timeout that says the update is durable", err)
	}
}
