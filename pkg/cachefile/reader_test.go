package cachefile

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func keyN(i int) string   { return fmt.Sprintf("key-%06d", i) }
func valueN(i int) string { return fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte{'v'}, i%97)) }

func TestOpenNoFile(t *testing.T) {
	_, err := Open(filepath.Join(t.TempDir(), "missing"))
	if !errors.Is(err, ErrNoFile) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing file: %v, want ErrNoFile and fs.ErrNotExist", err)
	}
}

func TestReaderOperations(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("b/2", "two"), set("a/1", "one"), set("b/1", "uno"), set("c", ""))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tests := []struct {
		name string
		run  func() (any, error)
		want any
	}{
		{"Get", func() (any, error) { v, err := r.Get([]byte("a/1")); return string(v), err }, "one"},
		{"Get empty value", func() (any, error) { v, err := r.Get([]byte("c")); return string(v), err }, ""},
		{"View", func() (any, error) {
			var got string
			err := r.View([]byte("b/2"), func(v []byte) { got = string(v) })
			return got, err
		}, "two"},
		{"Has", func() (any, error) { return r.Has([]byte("b/1")) }, true},
		{"Has missing", func() (any, error) { return r.Has([]byte("zz")) }, false},
		{"Len", func() (any, error) { return r.Len(), nil }, 4},
		{"UpdateID", func() (any, error) { return r.UpdateID(), nil }, uint64(1)},
		{"LogID", func() (any, error) { return r.LogID(), nil }, testLogID},
		{"Path", func() (any, error) { return r.Path(), nil }, h.path},
		{"Sorted", func() (any, error) {
			var ks []string
			for k, v := range r.Sorted() {
				ks = append(ks, string(k)+"="+string(v))
			}
			return fmt.Sprint(ks), nil
		}, "[a/1=one b/1=uno b/2=two c=]"},
		{"Prefix", func() (any, error) {
			var ks []string
			for k := range r.Prefix([]byte("b/")) {
				ks = append(ks, string(k))
			}
			return fmt.Sprint(ks), nil
		}, "[b/1 b/2]"},
		{"Prefix early stop", func() (any, error) {
			n := 0
			for range r.Prefix(nil) {
				n++
				break
			}
			return n, nil
		}, 1},
		{"Keys", func() (any, error) { return fmt.Sprint(sortedStrings(r.Keys())), nil }, "[a/1 b/1 b/2 c]"},
		{"Values", func() (any, error) { return fmt.Sprint(sortedStrings(r.Values())), nil }, "[ one two uno]"},
		{"Range", func() (any, error) {
			n := 0
			err := r.Range(func(k, v []byte) bool { n++; return true })
			return n, err
		}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.run()
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	t.Run("not found", func(t *testing.T) {
		if _, err := r.Get([]byte("zz")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get: %v", err)
		}
		if err := r.View([]byte("zz"), func([]byte) { t.Fatal("fn called") }); !errors.Is(err, ErrNotFound) {
			t.Fatalf("View: %v", err)
		}
		if _, err := r.Get(nil); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get of the empty key: %v", err)
		}
	})
	t.Run("Get copies", func(t *testing.T) {
		v, _ := r.Get([]byte("a/1"))
		v[0] = 'X'
		if w, _ := r.Get([]byte("a/1")); string(w) != "one" {
			t.Fatalf("changing Get's result changed the file: %q", w)
		}
	})
}

func sortedStrings(seq func(func([]byte) bool)) []string {
	var out []string
	for b := range seq {
		out = append(out, string(b))
	}
	slices.Sort(out)
	return out
}

func TestReaderClosed(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := r.Get([]byte("a")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: %v", err)
	}
	if err := r.View([]byte("a"), func([]byte) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("View after Close: %v", err)
	}
	if r.UpdateID() != 0 || r.Len() != 0 {
		t.Fatal("UpdateID or Len after Close is not 0")
	}
	for range r.All() {
		t.Fatal("All after Close yielded")
	}
}

func TestViewZeroAlloc(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 100 {
		h.mustApply(set(keyN(i), valueN(i)))
	}
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	key := []byte(keyN(42))
	n := 0
	fn := func(v []byte) { n += len(v) }
	if a := testing.AllocsPerRun(1000, func() { _ = r.View(key, fn) }); a != 0 {
		t.Fatalf("View: %v allocations per lookup, want 0", a)
	}
	missing := []byte("missing")
	if a := testing.AllocsPerRun(1000, func() { _ = r.View(missing, fn) }); a != 0 {
		t.Fatalf("View of a missing key: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(1000, func() { _, _ = r.Get(key) }); a != 1 {
		t.Fatalf("Get: %v allocations, want 1 (the copy)", a)
	}
}

// TestReaderFollowsAndUnmaps runs lookups in many goroutines while the
// writer moves through generations, and checks that every retired
// generation is unmapped once its lookups are done.
func TestReaderFollowsAndUnmaps(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 200 {
		h.mustApply(set(keyN(i), valueN(i)))
	}
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var retired []*readerGen
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (n*31 + g) % 200
				var got string
				err := r.View([]byte(keyN(i)), func(v []byte) { got = string(v) })
				if err != nil || got != valueN(i) && got != "new" {
					errs <- fmt.Errorf("key %d: %q, %v", i, got, err)
					return
				}
			}
		})
	}
	for i := range 30 {
		h.mustApply(set(keyN(i), "new"))
		if err := h.w.Compact(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get([]byte(keyN(i))); err != nil { // follows the new generation
			t.Fatal(err)
		}
		mu.Lock()
		retired = append(retired, r.cur.Load())
		mu.Unlock()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := r.Get([]byte(keyN(0))); err != nil { // moves to the last generation
		t.Fatal(err)
	}
	cur := r.cur.Load()
	for _, g := range retired {
		if g != cur && !g.refs.freed.Load() {
			t.Errorf("generation %d retired but still mapped", g.m.hdr.generation)
		}
	}
	if len(retired) != 30 || retired[0] == cur {
		t.Fatalf("the reader did not follow the generations: %d seen", len(retired))
	}
}
