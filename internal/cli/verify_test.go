package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// startWriter appends a base of 2,000 keys to the instance's log, then keeps
// changing, deleting and adding keys until the returned stop is called;
// stop returns how many updates it wrote after the base.
func (in *instance) startWriter(t *testing.T) (stop func() int) {
	t.Helper()
	s, err := backends.Open(t.Context(), in.logDir, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	base := make([]logstore.Op, 2000)
	for i := range base {
		base[i] = logstore.Set(fmt.Appendf(nil, "key-%04d", i), []byte("base"))
	}
	baseID, err := s.Append(t.Context(), base)
	if err != nil {
		t.Fatal(err)
	}
	in.waitApplied(t, baseID)
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var written int
	var werr error
	wg.Go(func() {
		r := rand.New(rand.NewPCG(1, 2))
		for ctx.Err() == nil {
			if _, err := s.Append(ctx, randomOps(r)); err != nil {
				if ctx.Err() == nil {
					werr = err
				}
				return
			}
			written++
		}
	})
	stopped := false
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
			_ = s.Close()
			if werr != nil {
				t.Errorf("writer: %v", werr)
			}
		}
		return written
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitApplied waits until the node's file has applied update id.
func (in *instance) waitApplied(t *testing.T, id uint64) {
	t.Helper()
	r, err := cachefile.Open(filepath.Join(in.dir, agentapi.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	deadline := time.Now().Add(30 * time.Second)
	for r.UpdateID() < id {
		if time.Now().After(deadline) {
			t.Fatalf("the agent applied %d, want %d", r.UpdateID(), id)
		}
		time.Sleep(time.Millisecond)
	}
}

// randomOps returns an update over key-0000..key-2499, a fifth deletes.
func randomOps(r *rand.Rand) []logstore.Op {
	ops := make([]logstore.Op, 1+r.IntN(20))
	for i := range ops {
		key := fmt.Appendf(nil, "key-%04d", r.IntN(2500))
		if r.IntN(5) == 0 {
			ops[i] = logstore.Delete(key)
		} else {
			ops[i] = logstore.Set(key, fmt.Appendf(nil, "v%d", r.Uint64()))
		}
	}
	return ops
}

// TestVerifyReplayWhileWriting runs verify --replay again and again while a
// writer keeps changing, deleting and adding keys through the store and the
// agent applies them: a live node must never be reported as differing from
// its log.
func TestVerifyReplayWhileWriting(t *testing.T) {
	in := startInstance(t)
	stop := in.startWriter(t)
	// Run until enough runs saw the file move under them (most do: the
	// writer does not pause), with a bound in case the writer is starved.
	const minRuns, minMoving, maxRuns = 20, 5, 500
	runs, moving := 0, 0
	for runs < minRuns || moving < minMoving {
		if runs == maxRuns {
			t.Fatalf("only %d of %d verify runs saw the file move", moving, runs)
		}
		runs++
		out, err := in.whycache(t, "verify", "--replay")
		if err != nil {
			t.Fatalf("run %d: verify --replay on a live node: %v\n%s", runs, err, out)
		}
		if !strings.Contains(out, "equal to the log's replay") {
			t.Fatalf("run %d: output %q", runs, out)
		}
		if strings.Contains(out, "changed while it was read") {
			moving++
		}
	}
	written := stop()
	if written == 0 {
		t.Fatal("the writer wrote nothing while verify ran")
	}
	t.Logf("%d updates written during %d verify runs, %d of which saw the file move", written, runs, moving)
}

// TestVerifyReplayFindsAMismatchWhileWriting plants a wrong key in a copy of
// the node's file while the log keeps moving: the tolerance for keys that
// change meanwhile must not hide it, nor turn it into "not quiet".
func TestVerifyReplayFindsAMismatchWhileWriting(t *testing.T) {
	in := startInstance(t)
	stop := in.startWriter(t)
	defer stop()
	r, err := cachefile.Open(filepath.Join(in.dir, agentapi.CacheFileName))
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), agentapi.CacheFileName)
	w, err := cachefile.OpenWriter(t.Context(), other, r.LogID(), cachefile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// The copy holds what the walk saw, as of the applied id before it (as
	// the node's file does while it moves): the keys that the writer
	// changed meanwhile are tolerated, the planted one is not.
	applied := r.UpdateID()
	var ops []cachefile.Op
	for k, v := range r.Sorted() {
		ops = append(ops, cachefile.Op{Key: k, Value: v})
	}
	// key-7777 is outside the writer's keys: the log never had it.
	ops = append(ops, cachefile.Op{Key: []byte("key-7777"), Value: []byte("planted")})
	if err := w.Apply(applied, ops); err != nil {
		t.Fatal(err)
	}
	r.Close()
	w.Close()
	out, err := in.whycache(t, "verify", "--replay", "--file", other)
	if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "key key-7777 is in the file but not in the log") {
		t.Fatalf("verify --replay of a wrong file while the log moves: %v\n%s", err, out)
	}
}

func TestReplayWindowCompare(t *testing.T) {
	// The log: a=1 b=1 c=1 at 1; b=2, c deleted at 2 (the window's start);
	// a=3, d=3 at 3; a deleted, b=4 at 4.
	log := []logstore.Update{
		{ID: 1, Ops: []logstore.Op{set("a", "1"), set("b", "1"), set("c", "1")}},
		{ID: 2, Ops: []logstore.Op{set("b", "2"), logstore.Delete([]byte("c"))}},
		{ID: 3, Ops: []logstore.Op{set("a", "3"), set("d", "3")}},
		{ID: 4, Ops: []logstore.Op{logstore.Delete([]byte("a")), set("b", "4")}},
	}
	tests := []struct {
		name       string
		from, to   uint64
		file       map[string]string
		mismatches int
		moved      int
	}{
		{name: "quiet and equal", from: 4, to: 4, file: map[string]string{"b": "4", "d": "3"}},
		{name: "quiet, a stale value", from: 4, to: 4, file: map[string]string{"b": "2", "d": "3"}, mismatches: 1},
		{name: "quiet, a missing key", from: 4, to: 4, file: map[string]string{"b": "4"}, mismatches: 1},
		{name: "quiet, an extra key", from: 4, to: 4, file: map[string]string{"b": "4", "d": "3", "c": "1"}, mismatches: 1},
		{name: "at the start", from: 2, to: 4, file: map[string]string{"a": "1", "b": "2"}, moved: 3},
		{name: "half of update 3", from: 2, to: 4, file: map[string]string{"a": "3", "b": "2"}, moved: 3},
		{name: "through 4", from: 2, to: 4, file: map[string]string{"b": "4", "d": "3"}, moved: 3},
		{name: "a deleted, b not yet", from: 2, to: 4, file: map[string]string{"b": "2", "d": "3"}, moved: 3},
		{name: "a value from before the window", from: 2, to: 4, file: map[string]string{"a": "1", "b": "1"}, moved: 3, mismatches: 1},
		{name: "a key the window never had", from: 2, to: 4, file: map[string]string{"a": "1", "b": "2", "c": "1"}, moved: 3, mismatches: 1},
		{name: "a value never given", from: 2, to: 4, file: map[string]string{"a": "9", "b": "2"}, moved: 3, mismatches: 1},
		{name: "an untouched key lost", from: 2, to: 3, file: map[string]string{"a": "1"}, moved: 2, mismatches: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newReplayWindow(tt.from, tt.to)
			for _, u := range log[:tt.to] {
				w.apply(u)
			}
			file := map[string][]byte{}
			for k, v := range tt.file {
				file[k] = []byte(v)
			}
			c := w.compare(file)
			if c.mismatches != tt.mismatches || c.moved != tt.moved || len(c.diffs) != c.mismatches {
				t.Fatalf("compare: %d mismatches %v, %d moved; want %d and %d", c.mismatches, c.diffs, c.moved, tt.mismatches, tt.moved)
			}
		})
	}
}

func set(k, v string) logstore.Op { return logstore.Set([]byte(k), []byte(v)) }

func TestVerifyVerdict(t *testing.T) {
	moved := fmt.Errorf("%w: the file's applied id went back", errMoved)
	mismatch := fmt.Errorf("%w: key k differs", ErrMismatch)
	other := errors.New("store unreachable")
	quiet, busy := replayResult{through: 7, latest: 7}, replayResult{through: 7, latest: 9}
	tests := []struct {
		name      string
		try       int
		res       replayResult
		err       error
		wantAgain bool
		want      error // the final error matches it; nil: no error
		notWant   error // and does not match it
	}{
		{name: "equal", try: 1, res: busy},
		{name: "quiet mismatch is final", try: 1, res: quiet, err: mismatch, want: ErrMismatch, notWant: ErrNotQuiet},
		{name: "busy mismatch again", try: 1, res: busy, err: mismatch, wantAgain: true},
		{name: "busy mismatch at the last try", try: verifyTries, res: busy, err: mismatch, want: ErrMismatch, notWant: ErrNotQuiet},
		{name: "moved again", try: verifyTries - 1, res: busy, err: moved, wantAgain: true},
		{name: "moved at the last try", try: verifyTries, res: busy, err: moved, want: ErrNotQuiet, notWant: ErrMismatch},
		{name: "other errors are final", try: 1, res: busy, err: other, want: other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			again, err := verdict(tt.try, tt.res, tt.err)
			if again != tt.wantAgain {
				t.Fatalf("again = %v, want %v", again, tt.wantAgain)
			}
			if again {
				return
			}
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if tt.notWant != nil && errors.Is(err, tt.notWant) {
				t.Fatalf("error %v matches %v", err, tt.notWant)
			}
		})
	}
}
