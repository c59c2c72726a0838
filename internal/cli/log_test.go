package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// rewrittenLog fills the instance's log with more than a page of the
// store's default size (10,000 operations for a directory), then deletes a
// key and rewrites the history with the horizon at the delete: above the
// first page. It returns the store and the ids of the first and last
// updates.
func (in *instance) rewrittenLog(t *testing.T) (logstore.Store, uint64, uint64) {
	t.Helper()
	s, err := backends.Open(t.Context(), in.logDir, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	var first uint64
	for i := range 25 {
		ops := make([]logstore.Op, 1000)
		for j := range ops {
			ops[j] = logstore.Set(fmt.Appendf(nil, "k%02d-%04d", i, j), []byte("v"))
		}
		id, err := s.Append(t.Context(), ops)
		if err != nil {
			t.Fatal(err)
		}
		if first == 0 {
			first = id
		}
	}
	last, err := s.Append(t.Context(), []logstore.Op{logstore.Delete([]byte("k00-0000"))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	if h, err := s.Horizon(t.Context()); err != nil || h != last {
		t.Fatalf("horizon %d, %v; want %d", h, err, last)
	}
	return s, first, last
}

// checkTail checks that out holds every operation of rewrittenLog's log
// after after (the delete marker is gone), and each once.
func checkTail(t *testing.T, out string, after uint64, first uint64) {
	t.Helper()
	lines := strings.Count(out, "\tset\t")
	want := 0
	for i := range 25 {
		if first+uint64(i) > after {
			want += 1000
		}
	}
	// The rewrite dropped the set of k00-0000 (deleted later) and the
	// delete marker itself.
	if after < first {
		want--
	}
	if lines != want || strings.Count(out, "\n") != want {
		t.Fatalf("log tail --after %d printed %d set lines and %d lines, want %d", after, lines, strings.Count(out, "\n"), want)
	}
	if strings.Contains(out, "k00-0000") {
		t.Fatal("log tail printed the removed key k00-0000")
	}
}

func TestLogTailAfterRewrite(t *testing.T) {
	in := startInstance(t)
	_, first, _ := in.rewrittenLog(t)
	for _, after := range []uint64{0, first + 3, first + 24} {
		t.Run(fmt.Sprint("after ", after), func(t *testing.T) {
			out, err := in.whycache(t, "log", "tail", "--after", fmt.Sprint(after))
			if err != nil {
				t.Fatalf("log tail --after %d: %v (printed %d lines)", after, err, strings.Count(out, "\n"))
			}
			checkTail(t, out, after, first)
		})
	}
}

// syncBuffer is a bytes.Buffer that a command writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// waitOutput polls out until it contains want.
func waitOutput(t *testing.T, out *syncBuffer, done <-chan error, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("log tail -f ended (%v) before printing %q; printed %d lines", err, want, strings.Count(out.String(), "\n"))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("log tail -f has not printed %q; printed %d lines", want, strings.Count(out.String(), "\n"))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLogTailFollowAfterRewrite(t *testing.T) {
	in := startInstance(t)
	s, first, _ := in.rewrittenLog(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cmd := NewRootCommand()
	out := &syncBuffer{}
	cmd.SetOut(out)
	cmd.SetErr(out)
	cmd.SetArgs([]string{"--dir", in.dir, "--store", in.logDir, "log", "tail", "-f"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	waitOutput(t, out, done, "\tset\tk24-0999\tv\n")
	id, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("late"), []byte("arrival"))})
	if err != nil {
		t.Fatal(err)
	}
	waitOutput(t, out, done, "\tset\tlate\tarrival\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("log tail -f ended with %v after its context", err)
	}
	got := out.String()
	i := strings.Index(got, fmt.Sprintf("\n%d\t", id)) + 1
	checkTail(t, got[:i], 0, first)
	if rest := got[i:]; !strings.HasSuffix(rest, "\tset\tlate\tarrival\n") || strings.Count(rest, "\n") != 1 {
		t.Fatalf("log tail -f printed after the log's end: %q", rest)
	}
}
