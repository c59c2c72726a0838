package dirstore

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// TestRestoredInPlaceUnderAReader copies a log's files back from an earlier
// copy while a Store holds them open and has indexed the later records,
// then appends records of other sizes under the reused ids: the Store reads
// the new records, whether or not it saw the latest id go back before the
// log grew past it again.
func TestRestoredInPlaceUnderAReader(t *testing.T) {
	for _, sawRewind := range []bool{true, false} {
		t.Run(map[bool]string{true: "rewind seen", false: "rewind unseen"}[sawRewind], func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(t.Context(), dir, logstore.Options{Create: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			put := func(k, v string) uint64 {
				id, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte(k), []byte(v))})
				if err != nil {
					t.Fatal(err)
				}
				return id
			}
			put("a", "1")
			put("b", "1")
			backup := t.TempDir()
			copyFiles(t, s.dir, backup)
			put("c", "lost, and long")
			put("d", "lost")
			if ups, err := s.Read(t.Context(), 0, 0); err != nil || len(ups) != 4 {
				t.Fatalf("Read = %d updates, %v; want 4", len(ups), err)
			}
			copyFiles(t, backup, s.dir)
			if sawRewind {
				if latest, err := s.Latest(t.Context()); err != nil || latest != 2 {
					t.Fatalf("Latest after the restore = %d, %v; want 2", latest, err)
				}
			}
			put("e", "new, and longer than any before")
			put("f", "new, and longer than any before")
			put("g", "new, and longer than any before")
			ups, err := s.Read(t.Context(), 2, 0)
			if err != nil {
				t.Fatal(err)
			}
			var keys string
			for _, u := range ups {
				keys += string(u.Ops[0].Key)
			}
			if keys != "efg" {
				t.Fatalf("after the restore, the log after 2 reads %q, want \"efg\"", keys)
			}
		})
	}
}

// copyFiles writes the files of src over those of dst in place (same
// inodes), as `cp src/. dst/` does.
func copyFiles(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755); err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
