package cachefile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// errInjected is the error the failpoint tests inject.
var errInjected = errors.New("injected failure")

// setFailpoint makes the hit-th call (counting from 1) of the failpoint
// named point fail, counting every failpoint's calls in hits, until the test
// ends. An empty point only counts.
func setFailpoint(t testing.TB, point string, hit int) map[string]int {
	t.Helper()
	hits := map[string]int{}
	failpoint = func(name string) error {
		hits[name]++
		if name == point && hits[name] == hit {
			return fmt.Errorf("%s (call %d): %w", name, hit, errInjected)
		}
		return nil
	}
	t.Cleanup(func() { failpoint = nil })
	return hits
}

// faultCase is an operation of the writer that a failure is injected into.
type faultCase struct {
	name string
	opts func(*Options)
	// setup prepares the harness (with failpoints off).
	setup func(t *testing.T, h *harness)
	// op runs the operation; batch is the batch it applies, if any.
	op    func(t *testing.T, h *harness) error
	batch []Op
}

// faultBatch is a batch of n sets of fresh keys, with values of size bytes.
func faultBatch(tag string, n, size int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = set(fmt.Sprintf("%s-%04d", tag, i), strings.Repeat(tag[:1], size))
	}
	return ops
}

func faultCases() []faultCase {
	preload := func(t *testing.T, h *harness) {
		for i := range 20 {
			h.mustApply(faultBatch(fmt.Sprintf("p%02d", i%5), 4, 40)...)
		}
		h.mustApply(del("p00-0001"), del("p01-0002"))
	}
	sealed := func(t *testing.T, h *harness) string { return filepath.Join(filepath.Dir(h.path), "sealed") }
	return []faultCase{
		{name: "apply", setup: preload, batch: faultBatch("small", 2, 10)},
		{name: "apply-large", setup: preload, batch: faultBatch("large", 40, 2000)},
		{name: "apply-checkpoint", opts: func(o *Options) { o.CheckpointInterval = time.Nanosecond },
			setup: preload, batch: faultBatch("ckpt", 2, 10)},
		{name: "growth", setup: preload, batch: faultBatch("grow", 200, 20)},
		{name: "compaction", setup: preload, op: func(t *testing.T, h *harness) error { return h.w.Compact(t.Context()) }},
		{name: "checkpoint", setup: preload, op: func(_ *testing.T, h *harness) error { return h.w.Checkpoint() }},
		{name: "seal", setup: preload, op: func(t *testing.T, h *harness) error {
			_, err := h.w.Seal(t.Context(), sealed(t, h))
			return err
		}},
		{name: "replace", setup: func(t *testing.T, h *harness) {
			preload(t, h)
			if _, err := h.w.Seal(t.Context(), sealed(t, h)); err != nil {
				t.Fatal(err)
			}
		}, op: func(t *testing.T, h *harness) error { return h.w.Replace(t.Context(), sealed(t, h)) }},
		{name: "adopt", setup: func(t *testing.T, h *harness) {
			preload(t, h)
			if _, err := h.w.Seal(t.Context(), sealed(t, h)); err != nil {
				t.Fatal(err)
			}
		}, op: func(t *testing.T, h *harness) error { return h.w.Adopt(t.Context(), sealed(t, h)) }},
		{name: "adopt-then-grow", setup: func(t *testing.T, h *harness) {
			preload(t, h)
			if _, err := h.w.Seal(t.Context(), sealed(t, h)); err != nil {
				t.Fatal(err)
			}
			if err := h.w.Adopt(t.Context(), sealed(t, h)); err != nil {
				t.Fatal(err)
			}
		}, batch: faultBatch("grow", 200, 20)},
		{name: "create", setup: func(t *testing.T, h *harness) {
			closeAndRemove(t, h)
		}, op: reopenWriter},
		{name: "adopt-sealed", setup: func(t *testing.T, h *harness) {
			preload(t, h)
			if _, err := h.w.Seal(t.Context(), sealed(t, h)); err != nil {
				t.Fatal(err)
			}
			if err := h.w.Close(); err != nil {
				t.Fatal(err)
			}
			h.w = nil
			if err := os.Rename(sealed(t, h), h.path); err != nil {
				t.Fatal(err)
			}
		}, op: reopenWriter},
		{name: "reopen", setup: func(t *testing.T, h *harness) {
			preload(t, h)
			if err := h.w.Close(); err != nil {
				t.Fatal(err)
			}
			h.w = nil
		}, op: reopenWriter},
		{name: "close", setup: preload, op: func(_ *testing.T, h *harness) error { return h.w.Close() }},
	}
}

// closeAndRemove closes the harness's writer and removes its file.
func closeAndRemove(t *testing.T, h *harness) {
	if err := h.w.Close(); err != nil {
		t.Fatal(err)
	}
	h.w = nil
	if err := os.Remove(h.path); err != nil {
		t.Fatal(err)
	}
}

// reopenWriter opens the harness's writer.
func reopenWriter(_ *testing.T, h *harness) error {
	w, err := OpenWriter(context.Background(), h.path, testLogID, h.opts)
	if err == nil {
		h.w = w
	}
	return err
}

// TestFailpoints makes each write, truncate, fallocate, fsync, msync,
// rename, link and unlink of the writer fail in turn (each call of it that
// an operation makes, up to three), during applies, growth, compaction,
// checkpoints, seal, replace, open and close, and checks that:
//
//   - the operation returns the error, wrapped (errors.Is finds it), and
//     does not panic;
//   - the file at the path verifies and holds every acknowledged batch
//     (and the failed batch entirely or not at all, as its applied id says);
//   - a reader opened before the failure, and a new one, see exactly that;
//   - the writer goes on working (the next batch applies, Close succeeds),
//     or, after Close or a failed OpenWriter, a new writer opens the file.
//
// It also checks that the cases reach every failpoint.
func TestFailpoints(t *testing.T) {
	reached := map[string]bool{}
	for _, fc := range faultCases() {
		// A dry run counts the calls the operation makes.
		var counts map[string]int
		t.Run(fc.name+"/count", func(t *testing.T) {
			h := faultHarness(t, fc)
			counts = setFailpoint(t, "", 0)
			if err := runFaultOp(t, fc, h); err != nil {
				t.Fatalf("without failures: %v", err)
			}
			failpoint = nil
			finishFaultCase(t, fc, h, true)
		})
		for _, point := range slices.Sorted(maps.Keys(counts)) {
			reached[point] = true
			for hit := 1; hit <= min(counts[point], 3); hit++ {
				t.Run(fmt.Sprintf("%s/%s/%d", fc.name, point, hit), func(t *testing.T) {
					h := faultHarness(t, fc)
					var before *Reader
					if _, err := os.Stat(h.path); err == nil {
						r, err := Open(h.path)
						if err != nil {
							t.Fatal(err)
						}
						defer r.Close()
						before = r
					}
					setFailpoint(t, point, hit)
					err := runFaultOp(t, fc, h)
					failpoint = nil
					if !errors.Is(err, errInjected) {
						h.w = nil // in an unknown state: the cleanup must not use it
						t.Fatalf("operation returned %v, want the injected failure", err)
					}
					t.Logf("returned: %v", err)
					if before != nil {
						if err := compareModel(before, h.modelAt(before.UpdateID()), before.UpdateID()); err != nil {
							t.Errorf("reader opened before the failure: %v", err)
						}
					}
					finishFaultCase(t, fc, h, false)
				})
			}
		}
	}
	reached[fpExtend] = true // TestFailpointExtend: its file has lost its content by then
	for _, p := range failpointNames {
		if !reached[p] {
			t.Errorf("no case reaches failpoint %q", p)
		}
	}
}

// faultHarness returns a harness for fc, set up with failpoints off.
func faultHarness(t *testing.T, fc faultCase) *harness {
	opts := smallOpts()
	opts.NoSync = false
	if fc.opts != nil {
		fc.opts(&opts)
	}
	h := newHarness(t, opts)
	h.pending = map[uint64][]Op{}
	fc.setup(t, h)
	return h
}

// runFaultOp runs fc's operation, turning a panic into a test failure.
func runFaultOp(t *testing.T, fc faultCase, h *harness) (err error) {
	defer func() {
		if p := recover(); p != nil {
			failpoint = nil
			h.w = nil // unusable: the cleanup must not close it
			t.Fatalf("panic: %v", p)
		}
	}()
	if fc.batch != nil {
		h.pending[h.applied+1] = fc.batch
		return h.w.Apply(h.applied+1, fc.batch)
	}
	return fc.op(t, h)
}

// finishFaultCase brings the model up to the file's applied id (a failed
// batch may be in), checks the file with a new reader, and then that the
// writer (or a new one) goes on working; the harness's cleanup closes it
// and runs the invariant checker.
func finishFaultCase(t *testing.T, fc faultCase, h *harness, ok bool) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			h.w = nil
			t.Fatalf("panic after the failure: %v", p)
		}
	}()
	if h.w != nil && !h.w.closed {
		h.catchUp(h.w.UpdateID())
	} else if _, err := os.Stat(h.path); err == nil {
		r, err := Open(h.path)
		if err != nil {
			t.Fatalf("open the file after the failure: %v", err)
		}
		h.catchUp(r.UpdateID())
		r.Close()
	}
	if _, err := os.Stat(h.path); err == nil {
		if _, err := Verify(context.Background(), h.path); err != nil {
			t.Fatalf("file after the failure: %v", err)
		}
		r, err := Open(h.path)
		if err != nil {
			t.Fatal(err)
		}
		err = compareModel(r, h.model, h.applied)
		r.Close()
		if err != nil {
			t.Fatalf("new reader after the failure: %v", err)
		}
	}
	if h.w == nil || h.w.closed {
		if h.w != nil {
			if err := h.w.Apply(h.applied+1, faultBatch("after", 1, 1)); !errors.Is(err, ErrClosed) {
				t.Fatalf("Apply on a closed writer: %v, want ErrClosed", err)
			}
		}
		h.w = nil
		if err := reopenWriter(t, h); err != nil {
			t.Fatalf("OpenWriter after the failure: %v", err)
		}
	}
	h.mustApply(faultBatch("after", 3, 30)...)
	if ok && fc.name == "seal" {
		if _, err := Verify(context.Background(), filepath.Join(filepath.Dir(h.path), "sealed")); err != nil {
			t.Fatal(err)
		}
	}
}

// catchUp applies to the model the batch the failed operation may have
// applied, when the file's applied id says that it did.
func (h *harness) catchUp(to uint64) {
	for h.applied < to {
		ops, ok := h.pending[h.applied+1]
		if !ok {
			h.t.Fatalf("file is at update %d, the model at %d", to, h.applied)
		}
		applyModel(h.model, ops)
		h.applied++
	}
}

// modelAt returns the model as of update id (the current one or the
// pending batch after it).
func (h *harness) modelAt(id uint64) map[string][]byte {
	m := maps.Clone(h.model)
	for i := h.applied + 1; i <= id; i++ {
		applyModel(m, h.pending[i])
	}
	return m
}

// TestFailpointExtend makes CheckPath's extension of a file truncated under
// the writer fail: CheckPath returns the error, and the next CheckPath
// extends the file and reports it truncated.
func TestFailpointExtend(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 20 {
		h.mustApply(faultBatch(fmt.Sprintf("p%02d", i), 4, 40)...)
	}
	if err := os.Truncate(h.path, headerSize); err != nil {
		t.Fatal(err)
	}
	setFailpoint(t, fpExtend, 1)
	if _, err := h.w.CheckPath(); !errors.Is(err, errInjected) {
		t.Fatalf("CheckPath: %v, want the injected failure", err)
	}
	failpoint = nil
	if st, err := h.w.CheckPath(); st != PathTruncated || err != nil {
		t.Fatalf("CheckPath after the failure: %v, %v; want %v", st, err, PathTruncated)
	}
	// The content is lost: the caller replaces the file.
	closeAndRemove(t, h)
	h.model, h.applied = map[string][]byte{}, 0
	if err := reopenWriter(t, h); err != nil {
		t.Fatal(err)
	}
}
