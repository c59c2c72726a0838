package whycache_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/internal/agenttest"
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
	exampleLogDir = filepath.Join(root, "log")
	a, err := nodeagent.New(nodeagent.Config{
		Dir: exampleDir, NodeName: "example", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return dirstore.Open(ctx, exampleLogDir, opts)
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
	// A 16 MiB value decoded under the race detector on a loaded machine can
	// outlast the client's default 30 s bound; that bound is not under test.
	c, err := whycache.Open(exampleDir, whycache.WithWriteTimeout(10*time.Minute))
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

// TestWriterWithoutFile writes from a process with no cache file, as a job
// outside the cluster does: Open cannot serve it, a Writer can, and the
// node's agent applies what it wrote.
func TestWriterWithoutFile(t *testing.T) {
	s, err := dirstore.Open(t.Context(), exampleLogDir, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := whycache.Open(t.TempDir(), whycache.WithStore(s)); !errors.Is(err, whycache.ErrNoFile) {
		t.Fatalf("Open of a directory with no file, with a store = %v, want ErrNoFile", err)
	}
	if _, err := whycache.NewWriter(nil); !errors.Is(err, whycache.ErrInvalid) {
		t.Fatalf("NewWriter(nil) = %v, want ErrInvalid", err)
	}
	w, err := whycache.NewWriter(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var last uint64
	for _, write := range []func() (uint64, error){
		func() (uint64, error) { return w.Set(ctx, []byte("job/a"), []byte("1")) },
		func() (uint64, error) {
			return w.SetMulti(ctx, map[string][]byte{"job/b": []byte("2"), "job/c": []byte("3"), "job/d": []byte("4")})
		},
		func() (uint64, error) { return w.Delete(ctx, []byte("job/a")) },
		func() (uint64, error) { return w.DeleteMulti(ctx, [][]byte{[]byte("job/b"), []byte("job/none")}) },
	} {
		id, err := write()
		if err != nil || id <= last {
			t.Fatalf("write: id %d after %d, %v", id, last, err)
		}
		last = id
	}
	c, err := whycache.Open(exampleDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for k, v := range c.Prefix([]byte("job/")) {
		got[string(k)] = string(v)
	}
	if want := map[string]string{"job/c": "3", "job/d": "4"}; !maps.Equal(got, want) {
		t.Fatalf("the node holds %v, want %v", got, want)
	}

	tests := []struct {
		name  string
		write func() error
		want  error
	}{
		{"empty key", func() error { _, err := w.Set(ctx, nil, []byte("v")); return err }, whycache.ErrInvalid},
		{"oversized value", func() error { _, err := w.Set(ctx, []byte("k"), make([]byte, 16<<20+1)); return err }, whycache.ErrTooLarge},
		{"no keys", func() error { _, err := w.DeleteMulti(ctx, nil); return err }, whycache.ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.write(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Set(ctx, []byte("k"), []byte("v")); !errors.Is(err, whycache.ErrClosed) {
		t.Errorf("Set after Close = %v, want ErrClosed", err)
	}
	if err := w.Close(); !errors.Is(err, whycache.ErrClosed) {
		t.Errorf("second Close = %v, want ErrClosed", err)
	}
}

// TestOpenWaitForAgent starts waiting for a node's file before its agent
// runs; the agent then makes the file, and the wait ends with a client that
// reads and writes.
func TestOpenWaitForAgent(t *testing.T) {
	root := t.TempDir()
	dir, logDir := filepath.Join(root, "node"), filepath.Join(root, "log")
	short, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := whycache.OpenWait(short, dir); !errors.Is(err, whycache.ErrNoFile) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenWait with no agent = %v, want ErrNoFile and DeadlineExceeded", err)
	}

	type opened struct {
		c   *whycache.Client
		err error
	}
	done := make(chan opened, 1)
	go func() {
		c, err := whycache.OpenWait(t.Context(), dir, whycache.WithApplyWait())
		done <- opened{c, err}
	}()
	if _, err := os.Stat(filepath.Join(dir, "cache.whycache")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the file is there before the agent: %v", err)
	}
	agenttest.Start(t, nodeagent.Config{
		Dir: dir, NodeName: "late", CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return dirstore.Open(ctx, logDir, opts)
		},
		Logger: logr.Discard(),
	})
	var o opened
	select {
	case o = <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("OpenWait did not return within 60s of the agent's start")
	}
	if o.err != nil {
		t.Fatalf("OpenWait: %v", o.err)
	}
	defer o.c.Close()
	if _, err := o.c.Set(t.Context(), []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := o.c.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}
