package cachefile

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdopt seals a file, moves the writer on, and adopts the sealed copy:
// the writer goes back to the sealed state without copying it (the sealed
// file becomes the path), a reader opened before follows, and the adopted
// generation takes new batches, growing past its sealed index.
func TestAdopt(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 30 {
		h.mustApply(set(fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i)), del(fmt.Sprintf("k%03d", i/2)))
	}
	sealed := filepath.Join(filepath.Dir(h.path), "snap")
	inf, err := h.w.Seal(t.Context(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	atSeal, idAtSeal := maps.Clone(h.model), h.applied
	h.mustApply(set("later", "x"), del("k029"))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fi, err := os.Stat(sealed)
	if err != nil {
		t.Fatal(err)
	}
	before := h.w.Stats()

	if err := h.w.Adopt(t.Context(), sealed); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	h.model, h.applied = atSeal, idAtSeal
	if _, err := os.Stat(sealed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the adopted file is still at its old name: %v", err)
	}
	pfi, err := os.Stat(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi, pfi) {
		t.Errorf("the file at the path is not the adopted one (copied?)")
	}
	st := h.w.Stats()
	if st.Generation <= before.Generation || st.UpdateID != inf.UpdateID || st.LiveKeys != inf.Keys {
		t.Errorf("after Adopt: %+v, want a generation above %d at update %d with %d keys", st, before.Generation, inf.UpdateID, inf.Keys)
	}
	if err := compareModel(r, h.model, h.applied); err != nil {
		t.Errorf("reader opened before Adopt: %v", err)
	}
	h.check()
	for i := range 40 {
		h.mustApply(set(fmt.Sprintf("n%03d", i), "new"), set(fmt.Sprintf("k%03d", i%30), "again"))
	}
	if got := h.w.Stats(); got.Growths == 0 || got.Capacity <= st.Capacity {
		t.Errorf("after new keys: %+v, want a growth past capacity %d", got, st.Capacity)
	}
	h.reopen()
}

// TestAdoptRefuses checks that Adopt refuses what it must not install,
// leaving the file to adopt and the writer's file as they were.
func TestAdoptRefuses(t *testing.T) {
	copyTo := func(t *testing.T, from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		src  func(t *testing.T, h *harness) string
		want error
	}{
		{"another directory", func(t *testing.T, h *harness) string {
			p := filepath.Join(t.TempDir(), "snap")
			if _, err := h.w.Seal(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrInvalid},
		{"the live file", func(t *testing.T, h *harness) string { return h.path }, ErrInvalid},
		{"an unsealed file", func(t *testing.T, h *harness) string {
			p := filepath.Join(filepath.Dir(h.path), "copy")
			copyTo(t, h.path, p)
			return p
		}, ErrInvalid},
		{"another log's file", func(t *testing.T, h *harness) string {
			p := filepath.Join(filepath.Dir(h.path), "other")
			copyTo(t, filepath.Join("testdata", "sealed.wcf"), p)
			return p
		}, ErrIdentityMismatch},
		{"a damaged file", func(t *testing.T, h *harness) string {
			p := filepath.Join(filepath.Dir(h.path), "damaged")
			copyTo(t, filepath.Join("testdata", "corrupt-sealed-bad-checksum.wcf"), p)
			return p
		}, ErrCorrupt},
		{"a truncated file", func(t *testing.T, h *harness) string {
			p := filepath.Join(filepath.Dir(h.path), "short")
			if _, err := h.w.Seal(t.Context(), p); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, fi.Size()-1); err != nil {
				t.Fatal(err)
			}
			return p
		}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, smallOpts())
			h.mustApply(set("a", "1"), set("b", "2"))
			src := tc.src(t, h)
			was, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := h.w.Adopt(t.Context(), src); !errors.Is(err, tc.want) {
				t.Fatalf("Adopt: %v, want %v", err, tc.want)
			}
			if now, err := os.ReadFile(src); err != nil || !bytes.Equal(now, was) {
				t.Errorf("the refused file changed (err %v)", err)
			}
			h.mustApply(set("c", "3"))
		})
	}
}

// TestSealHash feeds a sealed file to SealHash in uneven pieces (some
// splitting the header page) and checks that it computes the checksum the
// file carries, that VerifySummed and AdoptSummed accept the file with it
// and refuse it with any other sum, leaving it untouched.
func TestSealHash(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 50 {
		h.mustApply(set(fmt.Sprintf("k%03d", i), strings.Repeat("v", i)))
	}
	sealed := filepath.Join(filepath.Dir(h.path), "snap")
	inf, err := h.w.Seal(t.Context(), sealed)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	for _, piece := range []int{1, 7, 128, 4095, 4096, 5000, len(data)} {
		s := NewSealHash()
		for rest := data; len(rest) > 0; {
			n := min(piece, len(rest))
			s.Write(rest[:n])
			rest = rest[n:]
		}
		if got := s.Sum(); got != inf.Checksum {
			t.Errorf("pieces of %d bytes: SealHash %x, the file carries %x", piece, got, inf.Checksum)
		}
	}
	wrong := inf.Checksum
	wrong[5] ^= 1
	if _, err := VerifySummed(t.Context(), sealed, wrong); !errors.Is(err, ErrCorrupt) {
		t.Errorf("VerifySummed with a wrong sum: %v, want ErrCorrupt", err)
	}
	if _, err := VerifySummed(t.Context(), sealed, inf.Checksum); err != nil {
		t.Errorf("VerifySummed: %v", err)
	}
	if err := h.w.AdoptSummed(t.Context(), sealed, wrong); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("AdoptSummed with a wrong sum: %v, want ErrCorrupt", err)
	}
	if now, err := os.ReadFile(sealed); err != nil || !bytes.Equal(now, data) {
		t.Fatalf("the refused file changed (err %v)", err)
	}
	if err := h.w.AdoptSummed(t.Context(), sealed, inf.Checksum); err != nil {
		t.Fatalf("AdoptSummed: %v", err)
	}
	h.mustApply(set("after", "adopt"))
}
