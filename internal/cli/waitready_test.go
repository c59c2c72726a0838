package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache/internal/agenttest"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

func TestReadyState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		st    agentapi.Status
		err   error
		ready bool
		why   string
	}{
		{name: "no socket", err: fmt.Errorf("dial: %w", syscall.ENOENT), why: "no agent socket yet"},
		{name: "stale socket", err: classifyDialError(fmt.Errorf("dial: %w", syscall.ECONNREFUSED)), why: "does not answer"},
		{name: "other error", err: errors.New("the agent answered 500"), why: "the agent answered 500"},
		{name: "behind", st: agentapi.Status{AppliedID: 3, HeadID: 5, Reason: "2 updates behind the log (limit 1)"},
			why: "not ready: 2 updates behind the log (limit 1) (applied update 3 of 5)"},
		{name: "no reason given", st: agentapi.Status{AppliedID: 3, HeadID: 5}, why: "not ready: applied update 3 of 5"},
		{name: "ready", st: agentapi.Status{AppliedID: 5, HeadID: 5, Ready: true}, ready: true, why: "applied update 5 of 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready, why := readyState(tc.st, tc.err)
			if ready != tc.ready || !strings.Contains(why, tc.why) {
				t.Errorf("readyState = %v, %q; want %v, %q", ready, why, tc.ready, tc.why)
			}
		})
	}
}

// runWaitReady runs `whycache --dir dir wait-ready args...` in this process.
func runWaitReady(ctx context.Context, dir string, out *syncBuffer, args ...string) error {
	cmd := NewRootCommand()
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs(append([]string{"--dir", dir, "wait-ready", "--interval", "10ms"}, args...))
	return cmd.ExecuteContext(ctx)
}

// TestWaitReady runs wait-ready against a real agent: before the agent
// starts it waits (and gives up at --timeout, saying why), it returns once
// the agent is ready, and a socket that no agent listens on (an agent
// killed with its socket left behind) is reported as such.
func TestWaitReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute) // the test's own bound
	defer cancel()
	root := t.TempDir()
	dir, logDir := filepath.Join(root, "node"), filepath.Join(root, "log")

	var out syncBuffer
	err := runWaitReady(ctx, dir, &out, "--timeout", "1ns") // the deadline passes before the first question
	if err == nil || !strings.Contains(err.Error(), "not ready in time") || !strings.Contains(err.Error(), "no agent socket yet") {
		t.Fatalf("wait-ready with no agent: %v, want a timeout saying there is no socket", err)
	}

	out = syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runWaitReady(ctx, dir, &out) }()
	// It waits: with no agent, nothing can make it succeed.
	waitOutput(t, &out, done, "waiting for the agent of "+dir+": no agent socket yet")
	agenttest.Start(t, nodeagent.Config{
		Dir: dir, NodeName: "node-1", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, logDir, opts)
		},
		Logger: logr.Discard(),
	})
	if err := <-done; err != nil {
		t.Fatalf("wait-ready with a running agent: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "the agent of "+dir+" is ready") {
		t.Errorf("output %q does not say the agent is ready", out.String())
	}

	// A socket file that nobody listens on.
	stale := filepath.Join(root, "stale")
	if err := os.Mkdir(stale, 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(stale, agentapi.SocketName), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	out = syncBuffer{}
	// Long enough for a first answer on a loaded machine: later calls that
	// the deadline cuts short keep that answer's reason.
	err = runWaitReady(ctx, stale, &out, "--timeout", "2s")
	if err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Fatalf("wait-ready on a stale socket: %v, want a timeout saying the socket does not answer", err)
	}
}

func TestWaitReadyNeedsDir(t *testing.T) {
	t.Setenv(agentapi.EnvName(agentapi.FlagDir), "")
	cmd := NewRootCommand()
	cmd.SetOut(&syncBuffer{})
	cmd.SetErr(&syncBuffer{})
	cmd.SetArgs([]string{"wait-ready"})
	if err := cmd.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "--dir") {
		t.Fatalf("wait-ready without --dir: %v", err)
	}
}
