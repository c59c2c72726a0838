package cachefile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// abandon drops the writer as a crash would: no clean close, no sync.
func (w *Writer) abandon() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.release()
	w.lock.Close()
	w.closed = true
}

func bootIDFunc(id byte) func() ([16]byte, error) {
	return func() ([16]byte, error) { return [16]byte{0xb0, 0x07, id}, nil }
}

// TestCrashRebootRollsBack simulates a node reboot: after a checkpoint the
// writer applies more batches, and the machine dies with only some of the
// changed pages written back. The disk image is built sector by sector
// (512 bytes) from three states of the file: at the checkpoint, midway, and
// at the crash; any such mix is a state a reboot can leave. The writer that
// opens it under a new boot id must roll back to the checkpoint's id, and
// after re-applying the later batches the file must equal the model.
func TestCrashRebootRollsBack(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed)
	rounds := max(20, crashPoints(t)/4)
	const keySpace = 300
	for round := range rounds {
		ws := seed + uint64(round)
		path := filepath.Join(t.TempDir(), "cache")
		opts := smallOpts()
		opts.InitialKeys, opts.InitialDataSize, opts.MinGarbageBytes = 4096, 3<<20, 1<<30
		opts.BootID = bootIDFunc(1)
		w, err := OpenWriter(context.Background(), path, testLogID, opts)
		if err != nil {
			t.Fatal(err)
		}
		ckptID := uint64(1 + rng.IntN(60))
		end := ckptID + uint64(1+rng.IntN(60))
		var snaps [][]byte
		model := map[string][]byte{}
		for id := uint64(1); id <= end; id++ {
			ops := genBatch(ws, id, keySpace)
			if err := w.Apply(id, ops); err != nil {
				t.Fatal(err)
			}
			applyModel(model, ops)
			if id == ckptID {
				if err := w.Checkpoint(); err != nil {
					t.Fatal(err)
				}
			}
			if id == ckptID || id == (ckptID+end)/2 || id == end {
				// Past the tail, the data region is still zeros.
				snaps = append(snaps, readPrefix(t, path, int(w.Stats().DataUsed)+int(w.m.hdr.dataOff)))
			}
		}
		if w.Stats().Generation != 1 {
			t.Fatalf("round %d: the workload outgrew the first generation", round)
		}
		w.abandon()
		img := make([]byte, len(snaps[len(snaps)-1]))
		for off := 0; off < len(img); off += 512 {
			if s := snaps[rng.IntN(len(snaps))]; off < len(s) {
				copy(img[off:min(off+512, len(img))], s[off:])
			}
		}
		writeAt(t, path, img, 0)
		opts.BootID = bootIDFunc(2)
		w, err = OpenWriter(context.Background(), path, testLogID, opts)
		if err != nil {
			t.Fatalf("round %d: open after reboot: %v", round, err)
		}
		if got := w.UpdateID(); got != ckptID {
			t.Fatalf("round %d: recovered at update %d, want the checkpoint's %d", round, got, ckptID)
		}
		for id := ckptID + 1; id <= end; id++ {
			if err := w.Apply(id, genBatch(ws, id, keySpace)); err != nil {
				t.Fatal(err)
			}
		}
		r, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := compareModel(r, model, end); err != nil {
			t.Fatalf("round %d (checkpoint %d, end %d): %v", round, ckptID, end, err)
		}
		r.Close()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(context.Background(), path); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
}

func TestRebootCases(t *testing.T) {
	tests := []struct {
		name    string
		clean   bool   // close cleanly before the "reboot"
		boot    byte   // boot id of the reopening writer
		damage  bool   // flip a byte of the first record
		wantID  uint64 // applied id after reopening
		wantErr error
	}{
		{"clean close, reboot", true, 2, false, 20, nil},
		{"writer crash, same boot", false, 1, false, 20, nil},
		{"writer crash, reboot", false, 2, false, 10, nil},
		{"damage below checkpoint, reboot", false, 2, true, 0, ErrCorrupt},
		{"damage below checkpoint, same boot", false, 1, true, 0, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache")
			opts := smallOpts()
			opts.BootID = bootIDFunc(1)
			opts.InitialKeys = 1024
			w, err := OpenWriter(context.Background(), path, testLogID, opts)
			if err != nil {
				t.Fatal(err)
			}
			for id := uint64(1); id <= 20; id++ {
				if err := w.Apply(id, []Op{set(keyN(int(id)), valueN(int(id)))}); err != nil {
					t.Fatal(err)
				}
				if id == 10 {
					if err := w.Checkpoint(); err != nil {
						t.Fatal(err)
					}
				}
			}
			dataOff := w.m.hdr.dataOff
			if tt.clean {
				w.Close()
			} else {
				w.abandon()
			}
			if tt.damage {
				writeAt(t, path, []byte{0xff}, int64(dataOff)+recHeaderSize+2)
			}
			opts.BootID = bootIDFunc(tt.boot)
			w, err = OpenWriter(context.Background(), path, testLogID, opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("OpenWriter: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer w.Close()
			if got := w.UpdateID(); got != tt.wantID {
				t.Fatalf("UpdateID %d, want %d", got, tt.wantID)
			}
		})
	}
}

func readPrefix(t *testing.T, path string, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func writeAt(t testing.TB, path string, b []byte, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

// TestRebootDuplicateKey crafts the one inconsistency a reboot can leave
// in the index besides lost records: a key that moved after the checkpoint
// (deleted, then set into an earlier tombstone on its probe path) found in
// both its old slot (the old slot's sector not written back) and its new
// one. Recovery keeps the newer record and drops the other.
func TestRebootDuplicateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	opts := smallOpts()
	opts.BootID = bootIDFunc(1)
	opts.MinGarbageBytes = 1 << 30
	w, err := OpenWriter(context.Background(), path, testLogID, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Apply(1, []Op{set("k", "old")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	h := xxhSeed([]byte("k"), w.m.hdr.seed)
	home := h & w.m.mask
	oldSlot := w.m.slots[home]
	if err := w.Apply(2, []Op{set("k", "new")}); err != nil {
		t.Fatal(err)
	}
	// Old copy back at home, new copy in the next slot: both reachable.
	next := (home + 1) & w.m.mask
	if w.m.slots[next] != slotEmpty {
		t.Skip("next slot taken")
	}
	w.m.slots[next] = w.m.slots[home]
	w.m.slots[home] = oldSlot
	if _, err := checkIndex(context.Background(), w.m, func(f slotFault) error { return f.err }); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("crafted duplicate not detected: %v", err)
	}
	w.abandon()
	opts.BootID = bootIDFunc(2)
	w, err = OpenWriter(context.Background(), path, testLogID, opts)
	if err != nil {
		t.Fatalf("open after reboot: %v", err)
	}
	defer w.Close()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if v, err := r.Get([]byte("k")); err != nil || string(v) != "new" || r.Len() != 1 {
		t.Fatalf("after recovery: %q, %v, %d keys", v, err, r.Len())
	}
	if _, err := Verify(context.Background(), path); err != nil {
		t.Fatal(err)
	}
}

// TestCrashBetweenRenameAndMark stops a generation switch right after the
// rename, before the old file is marked superseded (as a kill there would).
// A reader still on the old file must be moved on by the next writer, which
// finds path.prev, marks it superseded and removes it.
func TestCrashBetweenRenameAndMark(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	oldGen := r.Generation()
	type stop struct{}
	hook = func(p string) {
		if p == "gen:renamed" {
			panic(stop{})
		}
	}
	func() {
		defer func() {
			hook = nil
			if v := recover(); v != (stop{}) {
				t.Fatalf("recovered %v", v)
			}
		}()
		_ = h.w.Compact(t.Context())
	}()
	h.w.abandon()
	h.w = nil
	if _, err := os.Stat(h.path + ".prev"); err != nil {
		t.Fatalf("path.prev after the interrupted switch: %v", err)
	}
	if g := r.Generation(); g != oldGen {
		t.Fatalf("reader moved to generation %d before the old file was marked", g)
	}
	h.reopen()
	if _, err := os.Stat(h.path + ".prev"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("path.prev after OpenWriter: %v", err)
	}
	if v, err := r.Get([]byte("a")); err != nil || string(v) != "1" || r.Generation() == oldGen {
		t.Fatalf("reader after recovery: %q, %v, generation %d (was %d)", v, err, r.Generation(), oldGen)
	}
}
