package cachefile

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCheckPath changes the file at a writer's path in each way CheckPath
// knows, and checks what it reports and that Republish (for an intact
// writer) puts a file back that a reader opened before the change follows
// to, with the batches applied since.
func TestCheckPath(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   PathState
	}{
		{"untouched", func(*testing.T, string) {}, PathOK},
		{"removed", func(t *testing.T, path string) { must(t, os.Remove(path)) }, PathMissing},
		{"replaced", func(t *testing.T, path string) {
			other := filepath.Join(filepath.Dir(path), "other")
			must(t, os.WriteFile(other, []byte("other"), 0o644))
			must(t, os.Rename(other, path))
		}, PathReplaced},
		{"extended", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			must(t, err)
			_, err = f.Write([]byte("tail"))
			must(t, err)
			must(t, f.Close())
		}, PathExtended},
		{"truncated", func(t *testing.T, path string) { must(t, os.Truncate(path, 100)) }, PathTruncated},
		{"overwritten", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			must(t, err)
			_, err = f.WriteAt([]byte("XXXXXXXX"), offCreated)
			must(t, err)
			must(t, f.Close())
		}, PathOverwritten},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, smallOpts())
			h.mustApply(set("a", "1"), set("b", "2"))
			r, err := Open(h.path)
			must(t, err)
			defer r.Close()
			tt.change(t, h.path)
			st, err := h.w.CheckPath()
			if err != nil || st != tt.want {
				t.Fatalf("CheckPath = %s, %v; want %s", st, err, tt.want)
			}
			if st.ContentLost() {
				// The writer's mapping is safe again, but what it holds is
				// gone: put an empty generation in place so that the
				// harness's invariant check has a file to read.
				h.w.Close()
				h.w = nil
				must(t, os.Remove(h.path))
				h.model, h.applied = map[string][]byte{}, 0
				h.reopen()
				return
			}
			if st != PathOK {
				must(t, h.w.Republish(t.Context()))
			}
			if st, err := h.w.CheckPath(); err != nil || st != PathOK {
				t.Fatalf("CheckPath after Republish = %s, %v; want ok", st, err)
			}
			h.mustApply(set("c", "3"))
			if v, err := r.Get([]byte("c")); err != nil || string(v) != "3" {
				t.Fatalf("the reader opened before the change reads c = %q, %v; want the new generation's 3", v, err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
