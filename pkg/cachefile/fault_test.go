package cachefile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func init() { children["fault-reader"] = faultReaderChild }

// faultKeys is the number of keys of the fault test's file; their records
// (1 KiB each) span a few megabytes, so that truncation cuts off pages of
// the index and of the data.
const faultKeys = 3000

func faultKey(i int) []byte { return fmt.Appendf(nil, "fk%05d", i) }

// faultStats counts what one kind of read returned after the file changed.
// Wrong counts values that are not the key's: the tail of a record cut by
// the truncation reads as zeros (see "Safety" in the package doc).
type faultStats struct {
	OK, Wrong, NotFound, Corrupt int
	Other                        string // the first other error
}

func (s *faultStats) add(key, v []byte, err error) {
	switch {
	case err == nil && key != nil:
		if _, e := checkStamp(key, v); e != nil {
			s.Wrong++
		} else {
			s.OK++
		}
	case err == nil:
		s.OK++
	case errors.Is(err, ErrNotFound):
		s.NotFound++
	case errors.Is(err, ErrCorrupt):
		s.Corrupt++
	case s.Other == "":
		s.Other = err.Error()
	}
}

// faultReport is what the fault-reader child prints.
type faultReport struct {
	Get, View, PinView, Range faultStats
	Iterated                  int
	Recovered                 bool // found every key again after the file was rebuilt
}

// faultReaderChild opens the file and a Pin on it, says "ready", and when
// told "read" on standard input (the parent has changed the file in place
// by then) reads every key with Get, View and Pin.View, walks the file with
// Range, All and Sorted, and prints a faultReport; when told "recover"
// (the parent has put a new file at the path), it looks every key up until
// all are found or 20 s pass, and prints the report again.
func faultReaderChild() int {
	path := os.Getenv("CF_PATH")
	r, err := Open(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := r.Pin()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// Fault the whole file in, as a busy reader would have.
	if err := r.Range(func(k, v []byte) bool { return true }); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	var rep faultReport
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		switch in.Text() {
		case "read":
			var buf []byte
			for i := range faultKeys {
				k := faultKey(i)
				v, err := r.Get(k)
				rep.Get.add(k, v, err)
				err = r.View(k, func(v []byte) { buf = append(buf[:0], v...) })
				rep.View.add(k, buf, err)
				err = p.View(k, func(v []byte) { buf = append(buf[:0], v...) })
				rep.PinView.add(k, buf, err)
			}
			rep.Range.add(nil, nil, r.Range(func(k, v []byte) bool { return true }))
			for range r.All() {
				rep.Iterated++
			}
			for range r.Sorted() {
				rep.Iterated++
			}
			_, _ = r.UpdateID(), r.Len()
			_ = p.UpdateID()
		case "recover":
			p.Release()
			for deadline := time.Now().Add(20 * time.Second); !rep.Recovered && time.Now().Before(deadline); {
				rep.Recovered = true
				for i := range faultKeys {
					if _, err := r.Get(faultKey(i)); err != nil {
						rep.Recovered = false
						time.Sleep(10 * time.Millisecond)
						break
					}
				}
			}
		}
		_ = out.Encode(rep)
	}
	return 0
}

// writeFaultFile writes a closed cache file at path with n keys named by
// key, each with a 1 KiB value.
func writeFaultFile(t *testing.T, path string, n int, key func(int) []byte) {
	t.Helper()
	w, err := OpenWriter(context.Background(), path, testLogID, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Key: key(i), Value: stampValue(1, key(i), 1000)}
	}
	if err := w.Apply(1, ops); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// copyInPlace copies src over dst as cp(1) does: the same inode, truncated
// and rewritten.
func copyInPlace(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReaderFileChangedInPlace runs a reader in a child process, changes
// the file under it in place (truncate(2) to several sizes; cp(1) of a
// smaller cache file over it), and checks that the reader's Get, View,
// Pin.View and iteration return ErrCorrupt (or, for keys in the part that
// is left, the right value) instead of the process dying of SIGBUS, and
// that the reader finds every key again once a writer has rebuilt the file.
func TestReaderFileChangedInPlace(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, path string)
		// lookupsFault: some lookups read past the new end. The smaller
		// file's index, read with the old file's seed, ends most probes at
		// an empty slot before any record is read.
		lookupsFault bool
		// recovers: the reader follows a file rebuilt at the path. After
		// cp, it has remapped the inode, which holds a whole file again,
		// and no writer marks that file superseded (see the package doc).
		recovers bool
	}{
		{"truncate-to-0", func(t *testing.T, path string) { truncateTo(t, path, 0) }, true, true},
		{"truncate-to-header", func(t *testing.T, path string) { truncateTo(t, path, headerSize) }, true, true},
		{"truncate-to-half", func(t *testing.T, path string) {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			truncateTo(t, path, fi.Size()/2)
		}, true, true},
		{"cp-smaller-file-over-it", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "other")
			writeFaultFile(t, other, 20, func(i int) []byte { return fmt.Appendf(nil, "other%d", i) })
			copyInPlace(t, other, path)
		}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cache")
			writeFaultFile(t, path, faultKeys, faultKey)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=fault-reader", "CF_PATH="+path)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			stdin, _ := cmd.StdinPipe()
			stdout, _ := cmd.StdoutPipe()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			out := bufio.NewScanner(stdout)
			out.Buffer(nil, 1<<20)
			if !out.Scan() || out.Text() != "ready" {
				t.Fatalf("reader did not start: %s", stderr.Bytes())
			}
			report := func(cmdLine string) faultReport {
				t.Helper()
				fmt.Fprintln(stdin, cmdLine)
				var rep faultReport
				if !out.Scan() || json.Unmarshal(out.Bytes(), &rep) != nil {
					stdin.Close()
					t.Fatalf("reader died after %q: %v\n%s", cmdLine, cmd.Wait(), stderr.Bytes())
				}
				return rep
			}

			tc.change(t, path)
			rep := report("read")
			t.Logf("after the change: %+v", rep)
			for name, s := range map[string]faultStats{"Get": rep.Get, "View": rep.View, "Pin.View": rep.PinView} {
				switch {
				case s.Other != "":
					t.Errorf("%s: %s", name, s.Other)
				case s.OK+s.Wrong+s.NotFound+s.Corrupt != faultKeys:
					t.Errorf("%s: %d results for %d keys", name, s.OK+s.Wrong+s.NotFound+s.Corrupt, faultKeys)
				case tc.lookupsFault && s.Corrupt == 0:
					t.Errorf("%s: no ErrCorrupt from a file shrunk under the reader: %+v", name, s)
				}
			}
			if rep.Range.Corrupt != 1 {
				t.Errorf("Range returned %+v, want ErrCorrupt", rep.Range)
			}

			// The writer rebuilds the file (a new inode at the path); the
			// reader moves to it by itself.
			if tc.recovers {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
				writeFaultFile(t, path, faultKeys, faultKey)
				if rep := report("recover"); !rep.Recovered {
					t.Errorf("reader did not find the keys in the rebuilt file")
				}
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("reader: %v\n%s", err, stderr.Bytes())
			}
		})
	}
}

func truncateTo(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

// TestFaultOutsideMappingPanics checks that the guard of a read passes on
// a panic that is not a fault in the file's mapping: a View callback's own
// bug stays a panic.
func TestFaultOutsideMappingPanics(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var p any
	func() {
		defer func() { p = recover() }()
		var nilMap map[string]int
		_ = r.View([]byte("a"), func([]byte) { nilMap["x"] = 1 })
	}()
	if p == nil {
		t.Fatal("a panic in a View callback was swallowed")
	}
	if !r.cur.Load().refs.idle() {
		t.Fatal("the panicking View did not release its reference")
	}
	if _, err := r.Get([]byte("a")); err != nil {
		t.Fatalf("Get after a panicking callback: %v", err)
	}
}
