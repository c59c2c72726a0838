package cachefile

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenOpts makes the writer deterministic: fixed hash seed, clock and
// boot id, so that the golden files are byte-for-byte reproducible.
func goldenOpts() Options {
	o := smallOpts()
	o.seed = 0x0123456789abcdef
	o.now = func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }
	o.BootID = bootIDFunc(7)
	return o
}

var goldenLogID = [16]byte{'w', 'h', 'y', 'c', 'a', 'c', 'h', 'e', '-', 'g', 'o', 'l', 'd', 'e', 'n', '!'}

// goldenBatches are the batches of the small golden file.
var goldenBatches = [][]Op{
	{set("alpha", "1"), set("beta", "two"), set("gamma", "")},
	{set("delta", "\x00\x01\x02\xff"), del("beta"), set("épsilon", "ε")},
	{set("alpha", "one"), set("zeta/1", "z1"), set("zeta/2", "z2")},
}

// goldenContent is what the golden files hold, at update 3.
var goldenContent = map[string]string{
	"alpha": "one", "gamma": "", "delta": "\x00\x01\x02\xff", "épsilon": "ε", "zeta/1": "z1", "zeta/2": "z2",
}

// writeGolden writes small.wcf and sealed.wcf into dir.
func writeGolden(t *testing.T, dir string) {
	t.Helper()
	path := filepath.Join(dir, "small.wcf")
	w, err := OpenWriter(context.Background(), path, goldenLogID, goldenOpts())
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range goldenBatches {
		if err := w.Apply(uint64(i+1), b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Seal(context.Background(), filepath.Join(dir, "sealed.wcf")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(privateDir(path))
}

// corruptions derive damaged files from the golden ones: the file, what
// to change, and the error Open, Get (of every key) and Verify must give.
var corruptions = []struct {
	name, from string
	edit       func(b []byte) []byte
	open, get  error // nil: must succeed
	verify     error
}{
	{"bad-magic", "small.wcf", func(b []byte) []byte { b[0] = 'X'; return b }, ErrCorrupt, nil, ErrCorrupt},
	{"bad-version", "small.wcf", func(b []byte) []byte { le.PutUint32(b[offVersion:], 2); return b }, ErrVersion, nil, ErrVersion},
	{"bad-header-crc", "small.wcf", func(b []byte) []byte { b[offSeed] ^= 1; return b }, ErrCorrupt, nil, ErrCorrupt},
	{"truncated", "small.wcf", func(b []byte) []byte { return b[:len(b)-100] }, ErrCorrupt, nil, ErrCorrupt},
	{"header-only", "small.wcf", func(b []byte) []byte { return b[:100] }, ErrCorrupt, nil, ErrCorrupt},
	{"record-crc", "small.wcf", func(b []byte) []byte { flipFirstValue(b); return b }, nil, nil, ErrCorrupt},
	{"slot-out-of-bounds", "small.wcf", func(b []byte) []byte { pointSlotsPastEnd(b); return b }, nil, ErrCorrupt, ErrCorrupt},
	{"sealed-bad-checksum", "sealed.wcf", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }, nil, nil, ErrCorrupt},
}

// flipFirstValue changes the last key byte of the record of the first live
// slot, keeping the file's structure (lookups of that key then miss).
func flipFirstValue(b []byte) {
	capacity := le.Uint64(b[offCapacity:])
	for i := range capacity {
		if s := le.Uint64(b[headerSize+8*i:]); s > slotTombstone {
			off := slotOffset(s)
			b[off+recHeaderSize+uint64(le.Uint32(b[off:]))-1] ^= 0x20
			return
		}
	}
}

// pointSlotsPastEnd makes every live slot point past the end of the file,
// keeping its tag.
func pointSlotsPastEnd(b []byte) {
	capacity := le.Uint64(b[offCapacity:])
	for i := range capacity {
		off := headerSize + 8*i
		if s := le.Uint64(b[off:]); s > slotTombstone {
			le.PutUint64(b[off:], s&^offFieldMask|(uint64(len(b))+64)>>3)
		}
	}
}

func TestGolden(t *testing.T) {
	if *update {
		writeGolden(t, "testdata")
		for _, c := range corruptions {
			b, err := os.ReadFile(filepath.Join("testdata", c.from))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join("testdata", "corrupt-"+c.name+".wcf"), c.edit(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Run("reproducible", func(t *testing.T) {
		dir := t.TempDir()
		writeGolden(t, dir)
		for _, name := range []string{"small.wcf", "sealed.wcf"} {
			got, _ := os.ReadFile(filepath.Join(dir, name))
			want, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s: the writer no longer produces the golden bytes (a format change needs a version bump; regenerate with -update)", name)
			}
		}
	})
	for _, name := range []string{"small.wcf", "sealed.wcf"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("testdata", name)
			r, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			model := map[string][]byte{}
			for k, v := range goldenContent {
				model[k] = []byte(v)
			}
			if err := compareModel(r, model, 3); err != nil {
				t.Fatal(err)
			}
			inf, err := Verify(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if inf.LogID != goldenLogID || inf.Sealed != (name == "sealed.wcf") || !inf.Clean || inf.UpdateID != 3 {
				t.Fatalf("Verify: %+v", inf)
			}
		})
	}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "corrupt-"+c.name+".wcf")
			if _, err := Verify(context.Background(), path); !errors.Is(err, c.verify) {
				t.Errorf("Verify: %v, want %v", err, c.verify)
			}
			r, err := Open(path)
			if !errors.Is(err, c.open) || (c.open == nil) != (err == nil) {
				t.Fatalf("Open: %v, want %v", err, c.open)
			}
			if err != nil {
				return
			}
			defer r.Close()
			for k := range goldenContent {
				_, err := r.Get([]byte(k))
				if errors.Is(err, ErrNotFound) && c.name == "record-crc" {
					continue // the damaged key
				}
				if (c.get == nil) != (err == nil) || !errors.Is(err, c.get) {
					t.Errorf("Get %q: %v, want %v", k, err, c.get)
				}
			}
			if err := r.Range(func(k, v []byte) bool { return true }); !errors.Is(err, c.get) {
				t.Errorf("Range: %v, want %v", err, c.get)
			}
		})
	}
}
