package whycache_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/dirstore"
)

// TestMain runs a node agent over a local-directory log for the examples
// and tests of this package.
func TestMain(m *testing.M) {
	os.Exit(runWithAgent(m))
}

func runWithAgent(m *testing.M) int {
	root, err := os.MkdirTemp("", "whycache-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(root)
	exampleDir = filepath.Join(root, "node")
	logDir := filepath.Join(root, "log")
	a, err := nodeagent.New(nodeagent.Config{
		Dir: exampleDir, NodeName: "example", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return dirstore.Open(ctx, logDir, opts)
		},
		Logger: logr.Discard(),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Started():
	case err := <-done:
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return code
}

func TestOpenWithoutFile(t *testing.T) {
	_, err := whycache.Open(t.TempDir())
	if !errors.Is(err, whycache.ErrNoFile) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open of an empty directory = %v, want ErrNoFile", err)
	}
}

func TestClosedClient(t *testing.T) {
	c, err := whycache.Open(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, whycache.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
	if _, err := c.Set(t.Context(), []byte("k"), []byte("v")); !errors.Is(err, whycache.ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
}

func TestWaitForHonoursContext(t *testing.T) {
	c, err := whycache.Open(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	err = c.WaitFor(ctx, c.UpdateID()+1_000_000)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor of a future id = %v, want DeadlineExceeded", err)
	}
}

func TestWriteErrorsMatchSentinels(t *testing.T) {
	c, err := whycache.Open(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct {
		name  string
		write func() error
		want  error
	}{
		{"empty key", func() error { _, err := c.Set(t.Context(), nil, []byte("v")); return err }, whycache.ErrInvalid},
		{"oversized key", func() error { _, err := c.Set(t.Context(), make([]byte, 64<<10+1), nil); return err }, whycache.ErrTooLarge},
		{"oversized value", func() error { _, err := c.Set(t.Context(), []byte("k"), make([]byte, 16<<20+1)); return err }, whycache.ErrTooLarge},
		{"no keys", func() error { _, err := c.DeleteMulti(t.Context(), nil); return err }, whycache.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
		})
	}
	// Without an agent, writes fail with ErrUnavailable.
	c2, err := whycache.Open(exampleDir, whycache.WithSocket(filepath.Join(t.TempDir(), "none.sock")))
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, err := c2.Set(t.Context(), []byte("k"), []byte("v")); !errors.Is(err, whycache.ErrUnavailable) {
		t.Fatalf("Set without an agent = %v, want ErrUnavailable", err)
	}
}
