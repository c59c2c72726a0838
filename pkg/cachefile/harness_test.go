package cachefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
)

var testLogID = [16]byte{0xc0, 0xff, 0xee, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}

// harness is a writer under test and a model of what its file holds. Its
// cleanup closes the writer and runs the invariant checker: Verify, then a
// comparison of every key with the model through a fresh Reader
// (bbolt's internal/btesting does the same after every test).
type harness struct {
	t       testing.TB
	path    string
	opts    Options
	w       *Writer
	model   map[string][]byte
	applied uint64
	pending map[uint64][]Op // batches an operation under test may have applied
}

// smallOpts makes files small, so that tests grow and compact often.
func smallOpts() Options {
	return Options{InitialKeys: 8, InitialDataSize: 4096, MinGarbageBytes: 1024, NoSync: true, CheckpointInterval: -1}
}

func newHarness(t testing.TB, opts Options) *harness {
	t.Helper()
	h := &harness{t: t, path: filepath.Join(t.TempDir(), "cache"), opts: opts, model: map[string][]byte{}}
	h.reopen()
	t.Cleanup(func() {
		if h.w != nil {
			if err := h.w.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
		if !t.Failed() {
			h.check()
		}
	})
	return h
}

// reopen opens (or reopens) the writer.
func (h *harness) reopen() {
	h.t.Helper()
	if h.w != nil {
		if err := h.w.Close(); err != nil {
			h.t.Fatalf("close: %v", err)
		}
	}
	w, err := OpenWriter(context.Background(), h.path, testLogID, h.opts)
	if err != nil {
		h.t.Fatalf("OpenWriter: %v", err)
	}
	h.w = w
	if got := w.UpdateID(); got != h.applied {
		h.t.Fatalf("reopened writer at update %d, want %d", got, h.applied)
	}
}

// apply applies a batch to the writer and, when it succeeds, to the model.
func (h *harness) apply(ops ...Op) error {
	h.t.Helper()
	id := h.applied + 1
	if err := h.w.Apply(id, ops); err != nil {
		return err
	}
	applyModel(h.model, ops)
	h.applied = id
	return nil
}

func (h *harness) mustApply(ops ...Op) {
	h.t.Helper()
	if err := h.apply(ops...); err != nil {
		h.t.Fatalf("apply update %d: %v", h.applied+1, err)
	}
}

func applyModel(m map[string][]byte, ops []Op) {
	for _, op := range ops {
		if op.Delete {
			delete(m, string(op.Key))
		} else {
			m[string(op.Key)] = bytes.Clone(op.Value)
		}
	}
}

// check runs the invariant checker.
func (h *harness) check() {
	h.t.Helper()
	if _, err := Verify(context.Background(), h.path); err != nil {
		h.t.Fatalf("invariant: %v", err)
	}
	r, err := Open(h.path)
	if err != nil {
		h.t.Fatalf("invariant: open: %v", err)
	}
	defer r.Close()
	if err := compareModel(r, h.model, h.applied); err != nil {
		h.t.Fatalf("invariant: %v", err)
	}
}

// compareModel checks that r holds exactly model at applied id applied.
func compareModel(r *Reader, model map[string][]byte, applied uint64) error {
	if got := r.UpdateID(); got != applied {
		return fmt.Errorf("update id %d, want %d", got, applied)
	}
	if got := r.Len(); got != len(model) {
		return fmt.Errorf("Len %d, want %d", got, len(model))
	}
	seen := map[string]bool{}
	for k, v := range r.All() {
		want, ok := model[string(k)]
		switch {
		case !ok:
			return fmt.Errorf("key %q is in the file, not in the model", k)
		case seen[string(k)]:
			return fmt.Errorf("key %q iterated twice", k)
		case !bytes.Equal(v, want):
			return fmt.Errorf("key %q: iterated value %q, want %q", k, trim(v), trim(want))
		}
		seen[string(k)] = true
	}
	for _, k := range slices.Sorted(maps.Keys(model)) {
		v, err := r.Get([]byte(k))
		if err != nil {
			return fmt.Errorf("Get %q: %v", k, err)
		}
		if !bytes.Equal(v, model[k]) {
			return fmt.Errorf("Get %q = %q, want %q", k, trim(v), trim(model[k]))
		}
	}
	if _, err := r.Get([]byte("\x00no such key")); !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("Get of a missing key: %v, want ErrNotFound", err)
	}
	return nil
}

func trim(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

func set(k, v string) Op { return Op{Key: []byte(k), Value: []byte(v)} }
func del(k string) Op    { return Op{Delete: true, Key: []byte(k)} }
