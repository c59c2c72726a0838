package nodeagent_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"

	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
)

// TestSecondAgentOnTheSameDirectory starts a second agent on a running
// agent's directory, with the same health port: it fails by naming the
// agent that holds the directory, not the port.
func TestSecondAgentOnTheSameDirectory(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "node-a")
	first := start(t, cfg)
	second := cfg
	second.NodeName = "node-b"
	second.HealthAddr = first.HealthAddr()
	b, err := nodeagent.New(second)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Run(context.Background())
	if !errors.Is(err, cachefile.ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())+", node node-a") {
		t.Fatalf("second agent: %v; want ErrLocked naming pid %d and node-a", err, os.Getpid())
	}
	if fi, err := os.Stat(cfg.Dir + "/" + cachefile.PrivateDirName); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("private directory: %v, %v; want mode 0700", fi, err)
	}
}

// TestSocketGroupAndMode gives the write socket a group and a mode.
func TestSocketGroupAndMode(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "node")
	cfg.SocketMode = 0o660
	cfg.SocketGroup = strconv.Itoa(os.Getgid())
	a := start(t, cfg)
	fi, err := os.Stat(a.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 || fi.Sys().(*syscall.Stat_t).Gid != uint32(os.Getgid()) {
		t.Errorf("socket mode %v gid %d, want 0660 and %d", fi.Mode().Perm(), fi.Sys().(*syscall.Stat_t).Gid, os.Getgid())
	}
	bad := dirConfig(t, t.TempDir(), "node")
	bad.SocketGroup = "no-such-group-whycache"
	ag, err := nodeagent.New(bad)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // Run returns at once; a bound in case it does not
	defer cancel()
	if err := ag.Run(ctx); err == nil || !strings.Contains(err.Error(), "socket group") {
		t.Errorf("unknown group: Run = %v, want a socket group error", err)
	}
}

// TestMissingLogHint starts an agent on a log that does not exist, without
// CreateLog: it waits, and says how to create the log.
func TestMissingLogHint(t *testing.T) {
	cfg := dirConfig(t, t.TempDir()+"/no-log", "node")
	cfg.CreateLog = false
	var mu sync.Mutex
	var lines []string
	cfg.Logger = funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{})
	a, err := nodeagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	poll(t, "the hint to use --create-log", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "--create-log") })
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}
