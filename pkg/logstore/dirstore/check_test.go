package dirstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// checkNamespace opens the suite's log and checks its files.
func checkNamespace(t testing.TB, open storetest.Opener) {
	t.Helper()
	s, err := open(t, logstore.Options{Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	checkFiles(t, s.(*Store).Dir())
}

// checkFiles is the store's invariant check: every segment decodes whole,
// with increasing ids inside its range; nothing lies above the active
// segment; the head matches the active segment and the horizon file.
func checkFiles(t testing.TB, dir string) {
	t.Helper()
	hf, err := os.Open(filepath.Join(dir, headFile))
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	h, err := readHead(hf)
	if err != nil {
		t.Fatal(err)
	}
	l, err := listDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if hz, err := readHorizon(dir); err != nil || hz != h.horizon {
		t.Errorf("horizon file %d, %v; head says %d", hz, err, h.horizon)
	}
	last := uint64(0)
	for i, r := range l.segs {
		data, err := os.ReadFile(filepath.Join(dir, r.name()))
		if err != nil {
			t.Fatal(err)
		}
		if r.base > h.active {
			t.Errorf("segment %s above the active one %d", r.name(), h.active)
		}
		if r.base == h.active && int64(len(data)) != h.committed {
			t.Errorf("active segment %s has %d bytes, head says %d committed", r.name(), len(data), h.committed)
		}
		if hdr, err := decodeSegHeader(data); err != nil || hdr.base != r.base || hdr.gen != r.gen {
			t.Errorf("segment %s header %+v, %v", r.name(), hdr, err)
		}
		ups, err := decodeSegment(data)
		if err != nil {
			t.Errorf("segment %s: %v", r.name(), err)
		}
		for _, u := range ups {
			if u.ID <= last || u.ID < r.base || (i+1 < len(l.segs) && u.ID >= l.segs[i+1].base) {
				t.Errorf("segment %s holds id %d (previous %d), out of its range", r.name(), u.ID, last)
			}
			last = u.ID
		}
	}
	if last > h.latest {
		t.Errorf("the head's latest id %d is below the last record's %d", h.latest, last)
	}
}

// TestCheckFilesCatches makes sure the invariant check sees a damaged log.
func TestCheckFilesCatches(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), dir, logstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte("v"))}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	checkFiles(t, s.Dir())
	seg := filepath.Join(s.Dir(), segRef{base: 1}.name())
	data, _ := os.ReadFile(seg)
	data[len(data)-1] ^= 1
	if err := os.WriteFile(seg, data, 0o644); err != nil {
		t.Fatal(err)
	}
	ft := &fakeT{TB: t}
	checkFiles(ft, s.Dir())
	if !ft.failed {
		t.Error("checkFiles passed a segment with a flipped byte")
	}
}

// fakeT records failures instead of failing the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Fatal(...any)          { f.failed = true; panic(errFakeFatal) }
func (f *fakeT) Helper()               {}

var errFakeFatal = errors.New("fatal")
