package cachefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds adds the golden files (valid, sealed and corrupt) to the corpus.
func fuzzSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.wcf"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add(make([]byte, headerSize))
}

// FuzzOpen feeds arbitrary bytes to everything that reads a file: Open,
// every lookup and iteration, Verify and Inspect. They must return errors,
// never panic or fault.
//
// The inputs are whole files (4 KiB and more), so minimising a new input
// takes long: run it with -fuzzminimizetime=10s or less.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	// One directory for all inputs: a fresh one per input costs more than
	// the checks.
	path := filepath.Join(f.TempDir(), "cache")
	keys := [][]byte{[]byte("alpha"), []byte("delta"), []byte("zeta/2"), []byte("missing"), nil}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := Open(path)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
				t.Fatalf("Open: unexpected error class: %v", err)
			}
		} else {
			for _, k := range keys {
				_, _ = r.Get(k)
				_ = r.View(k, func([]byte) {})
			}
			_, _, _ = r.Len(), r.UpdateID(), r.Generation()
			for range r.All() {
			}
			for range r.Prefix([]byte("zeta")) {
			}
			_ = r.Range(func(k, v []byte) bool { return true })
			r.Close()
		}
		_, _ = Inspect(path)
		_, _ = Verify(context.Background(), path)
	})
}

// FuzzOpenWriter opens arbitrary bytes with OpenWriter (which verifies,
// recovers or refuses the file), applies a batch to whatever it accepts,
// and checks that the result passes Verify.
func FuzzOpenWriter(f *testing.F) {
	fuzzSeeds(f)
	path := filepath.Join(f.TempDir(), "cache")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzWriter(t, path, data) })
}

func fuzzWriter(t *testing.T, path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := smallOpts()
	opts.BootID = bootIDFunc(byte(len(data) % 2)) // the golden files' boot id is 7: a reboot
	w, err := OpenWriter(context.Background(), path, goldenLogID, opts)
	if err != nil {
		return
	}
	defer w.Close()
	if _, err := Verify(context.Background(), path); err != nil {
		t.Fatalf("OpenWriter accepted a file that fails Verify: %v", err)
	}
	if err := w.Apply(w.UpdateID()+1, []Op{set("alpha", "fuzz"), del("delta"), set("new", "x")}); err != nil {
		t.Fatalf("Apply on an accepted file: %v", err)
	}
	if _, err := Verify(context.Background(), path); err != nil {
		t.Fatalf("after Apply: %v", err)
	}
}
