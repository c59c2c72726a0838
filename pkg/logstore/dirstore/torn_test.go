package dirstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// TestTornTail damages the end of the active segment (and the head) by hand,
// as a crash or a lying disk would, and checks that Open repairs it: what
// is damaged is cut off and never served, whole records are kept, and
// appends go on with ids above every id ever committed. Damage with whole
// records after it is not a torn tail: Open refuses to cut them off.
func TestTornTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, seg string, recs []entry)
		keep   int // updates that survive out of the 5 appended; -1: Open refuses
		extra  bool
	}{
		{"middle record flipped", func(t *testing.T, seg string, recs []entry) { flipByte(t, seg, recs[2].off+recHeaderLen+3) }, -1, false},
		{"last record cut after 1 byte", cutLast(1), 4, false},
		{"last record cut in its header", cutLast(5), 4, false},
		{"last record cut after its header", cutLast(recHeaderLen), 4, false},
		{"last record cut one byte short", cutLast(-1), 4, false},
		{"last record body byte flipped", flipLast(recHeaderLen + recFixedLen), 4, false},
		{"last record length flipped", flipLast(1), 4, false},
		{"last record checksum flipped", flipLast(5), 4, false},
		{"garbage after the tail", appendBytes([]byte("garbage that is not a record at all")), 5, false},
		{"zeros after the tail", appendBytes(make([]byte, 4096)), 5, false},
		{"half a header after the tail", appendBytes([]byte{40, 0, 0}), 5, false},
		{"an unpublished whole record", appendRecordBytes, 6, true},
		{"head flipped", flipHead, 5, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			want := appendFive(t, dir)
			seg := filepath.Join(dir, "log", segRef{base: 1}.name())
			tc.damage(t, seg, segmentEntries(t, seg))
			if tc.extra {
				want = append(want, logstore.Update{ID: 6, Ops: extraOps})
			}
			s, err := Open(t.Context(), dir, logstore.Options{Name: "log"})
			if tc.keep < 0 {
				if !errors.Is(err, errCorrupt) {
					t.Fatalf("open with damage before whole records: %v, want a corruption error", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open after damage: %v", err)
			}
			defer s.Close()
			got, err := storetest.ReadAll(t.Context(), s, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if d := storetest.DiffUpdates(got, want[:tc.keep]); d != "" {
				t.Fatalf("after repair: %s", d)
			}
			checkFiles(t, s.Dir())
			id, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("after"), []byte("repair"))})
			if err != nil || id <= uint64(len(want)) {
				t.Fatalf("append after repair = %d, %v; want an id above %d", id, err, len(want))
			}
			if got, _ := storetest.ReadAll(t.Context(), s, 0, 0); len(got) != tc.keep+1 || got[tc.keep].ID != id {
				t.Fatalf("after an append the log has %d updates, want %d ending with %d", len(got), tc.keep+1, id)
			}
		})
	}
}

// extraOps are the operations of the unpublished record.
var extraOps = []logstore.Op{logstore.Set([]byte("unpublished"), []byte("but whole"))}

// appendFive creates the log "log" in dir with five updates and returns them.
func appendFive(t *testing.T, dir string) []logstore.Update {
	s, err := Open(t.Context(), dir, logstore.Options{Name: "log", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var want []logstore.Update
	for i := range 5 {
		ops := []logstore.Op{logstore.Set(fmt.Appendf(nil, "k%d", i), fmt.Appendf(nil, "value %d", i)), logstore.Delete([]byte("gone"))}
		id, err := s.Append(t.Context(), ops)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, logstore.Update{ID: id, Ops: ops})
	}
	return want
}

// segmentEntries indexes a segment file's records.
func segmentEntries(t *testing.T, path string) []entry {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sg := &segment{ref: segRef{base: 1}, f: f, scanned: segHeaderLen}
	size, _ := sg.size()
	ents, err := sg.after(0, size)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// cutLast truncates the last record to n bytes (n < 0: its length + n).
func cutLast(n int) func(*testing.T, string, []entry) {
	return func(t *testing.T, seg string, recs []entry) {
		last := recs[len(recs)-1]
		if n < 0 {
			n += int(last.size)
		}
		if err := os.Truncate(seg, last.off+int64(n)); err != nil {
			t.Fatal(err)
		}
	}
}

// flipLast flips a byte at offset i of the last record.
func flipLast(i int64) func(*testing.T, string, []entry) {
	return func(t *testing.T, seg string, recs []entry) {
		flipByte(t, seg, recs[len(recs)-1].off+i)
	}
}

// appendBytes appends b to the segment file.
func appendBytes(b []byte) func(*testing.T, string, []entry) {
	return func(t *testing.T, seg string, _ []entry) {
		f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(b); err != nil {
			t.Fatal(err)
		}
	}
}

// appendRecordBytes appends a whole record with id 6 that the head does not
// publish, as a writer that died before its head update leaves it.
func appendRecordBytes(t *testing.T, seg string, recs []entry) {
	appendBytes(appendRecord(nil, logstore.Update{ID: 6, Time: time.Now(), Ops: extraOps}))(t, seg, recs)
}

// flipHead flips a byte of the head file, next to the segment.
func flipHead(t *testing.T, seg string, _ []entry) {
	flipByte(t, filepath.Join(filepath.Dir(seg), headFile), 20)
}

// flipByte flips the lowest bit of the byte at off in the file at path.
func flipByte(t *testing.T, path string, off int64) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
