package cachefile

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestApply(t *testing.T) {
	big := strings.Repeat("v", 70_000)
	tests := []struct {
		name    string
		batches [][]Op
		want    map[string]string
	}{
		{"set", [][]Op{{set("a", "1"), set("b", "2")}}, map[string]string{"a": "1", "b": "2"}},
		{"overwrite", [][]Op{{set("a", "1")}, {set("a", "2")}}, map[string]string{"a": "2"}},
		{"overwrite in one batch", [][]Op{{set("a", "1"), set("a", "2"), set("a", "3")}}, map[string]string{"a": "3"}},
		{"delete", [][]Op{{set("a", "1"), set("b", "2")}, {del("a")}}, map[string]string{"b": "2"}},
		{"delete missing", [][]Op{{del("nope")}}, map[string]string{}},
		{"delete then set", [][]Op{{set("a", "1")}, {del("a"), set("a", "2")}}, map[string]string{"a": "2"}},
		{"set then delete in one batch", [][]Op{{set("a", "1"), del("a")}}, map[string]string{}},
		{"empty value", [][]Op{{set("a", "")}}, map[string]string{"a": ""}},
		{"empty batch", [][]Op{{}}, map[string]string{}},
		{"binary key", [][]Op{{set("\x00\xff\x00", "x")}}, map[string]string{"\x00\xff\x00": "x"}},
		{"large value", [][]Op{{set("big", big)}}, map[string]string{"big": big}},
		{"max key", [][]Op{{set(strings.Repeat("k", DefaultMaxKeySize), "v")}}, map[string]string{strings.Repeat("k", DefaultMaxKeySize): "v"}},
		{"tombstone reuse", [][]Op{{set("a", "1")}, {del("a")}, {set("b", "2")}, {set("a", "3")}}, map[string]string{"a": "3", "b": "2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, smallOpts())
			for _, b := range tt.batches {
				h.mustApply(b...)
			}
			if len(h.model) != len(tt.want) {
				t.Fatalf("model has %d keys, want %d", len(h.model), len(tt.want))
			}
			for k, v := range tt.want {
				if string(h.model[k]) != v {
					t.Fatalf("model[%q] = %q, want %q", k, trim(h.model[k]), trim([]byte(v)))
				}
			}
		})
	}
}

func TestApplyRejectsBadBatches(t *testing.T) {
	opts := smallOpts()
	opts.MaxKeySize, opts.MaxValueSize = 16, 32
	tests := []struct {
		name    string
		ops     []Op
		target  error
		mention []string
	}{
		{"empty key", []Op{set("a", "1"), set("", "x")}, ErrInvalid, []string{"operation 1", "empty key"}},
		{"empty key delete", []Op{del("")}, ErrInvalid, []string{"empty key"}},
		{"key too large", []Op{set("a", "1"), set(strings.Repeat("k", 17), "x")}, ErrTooLarge, []string{`"kkkkkkkkkkkkkkkkk"`, "17 bytes", "limit of 16"}},
		{"long key truncated in message", []Op{set(strings.Repeat("q", 100), "x")}, ErrTooLarge, []string{strings.Repeat("q", 64) + `"… (100 bytes)`}},
		{"value too large", []Op{set("a", "1"), set("key7", strings.Repeat("v", 33))}, ErrTooLarge, []string{`"key7"`, "33 bytes", "limit of 32"}},
		{"delete with value", []Op{{Delete: true, Key: []byte("a"), Value: []byte("x")}}, ErrInvalid, []string{"has a value"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, opts)
			h.mustApply(set("a", "0"), set("z", "0"))
			err := h.w.Apply(2, tt.ops)
			if !errors.Is(err, tt.target) {
				t.Fatalf("Apply = %v, want %v", err, tt.target)
			}
			for _, s := range tt.mention {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not mention %q", err, s)
				}
			}
			if got := h.w.UpdateID(); got != 1 {
				t.Fatalf("UpdateID = %d after a rejected batch, want 1", got)
			}
			// The cleanup's invariant check proves nothing of the batch was applied.
		})
	}
}

func TestApplyIdempotent(t *testing.T) {
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	h.mustApply(set("a", "2"))
	for _, id := range []uint64{0, 1, 2} {
		if err := h.w.Apply(id, []Op{set("a", "stale"), set("b", "stale")}); err != nil {
			t.Fatalf("re-apply %d: %v", id, err)
		}
	}
	if err := h.w.Apply(9, []Op{set("", "bad")}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad batch above the applied id: %v", err)
	}
	// Gaps in the id space are allowed (history rewrites leave them).
	if err := h.w.Apply(10, []Op{set("c", "3")}); err != nil {
		t.Fatal(err)
	}
	applyModel(h.model, []Op{set("c", "3")})
	h.applied = 10
}

func TestOpenWriterErrors(t *testing.T) {
	t.Run("identity mismatch", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		h.mustApply(set("a", "1"))
		h.w.Close()
		other := testLogID
		other[0]++
		if _, err := OpenWriter(context.Background(), h.path, other, smallOpts()); !errors.Is(err, ErrIdentityMismatch) {
			t.Fatalf("OpenWriter with another log id: %v", err)
		}
		h.w = nil
	})
	t.Run("locked", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		_, err := OpenWriter(context.Background(), h.path, testLogID, smallOpts())
		if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), h.path) {
			t.Fatalf("second writer: %v, want ErrLocked naming the path", err)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c")
		for _, o := range []Options{{MaxKeySize: -1}, {MaxValueSize: HardMaxValueSize + 1}, {MaxLoadFactor: 0.99}, {MaxGarbageRatio: 2}} {
			if _, err := OpenWriter(context.Background(), path, testLogID, o); !errors.Is(err, ErrInvalid) {
				t.Errorf("OpenWriter(context.Background(), %+v) = %v, want ErrInvalid", o, err)
			}
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "c")
		if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 8192), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := OpenWriter(context.Background(), path, testLogID, smallOpts()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("OpenWriter on garbage: %v", err)
		}
	})
	t.Run("seal over the live file", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		if _, err := h.w.Seal(t.Context(), h.path); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Seal to the live path: %v", err)
		}
	})
	t.Run("replace with a live file", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		h.mustApply(set("a", "1"))
		if err := h.w.Replace(t.Context(), h.path); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Replace with an unsealed file: %v", err)
		}
	})
	t.Run("replace with another log's file", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		if err := h.w.Replace(t.Context(), filepath.Join("testdata", "sealed.wcf")); !errors.Is(err, ErrIdentityMismatch) {
			t.Fatalf("Replace with another log's snapshot: %v", err)
		}
	})
	t.Run("replace with a damaged file", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		if err := h.w.Replace(t.Context(), filepath.Join("testdata", "corrupt-sealed-bad-checksum.wcf")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Replace with a damaged snapshot: %v", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		h := newHarness(t, smallOpts())
		h.w.Close()
		if err := h.w.Apply(1, []Op{set("a", "1")}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Apply after Close: %v", err)
		}
		if err := h.w.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	})
}

func TestFileMode(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	h := newHarness(t, smallOpts())
	h.mustApply(set("a", "1"))
	if err := h.w.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Fatalf("file mode %v under umask 077, want 0644", fi.Mode().Perm())
	}
}

func TestReopenKeepsState(t *testing.T) {
	h := newHarness(t, smallOpts())
	for i := range 300 {
		h.mustApply(set(keyN(i%50), valueN(i)), del(keyN((i*7)%50)))
		if i%97 == 0 {
			h.reopen()
		}
	}
	h.reopen()
	st := h.w.Stats()
	if st.LiveKeys != len(h.model) || st.UpdateID != h.applied {
		t.Fatalf("stats after reopen: %+v, model %d keys", st, len(h.model))
	}
}

func TestGrowthAndCompaction(t *testing.T) {
	h := newHarness(t, smallOpts())
	r, err := Open(h.path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := range 2000 {
		h.mustApply(set(keyN(i%300), valueN(i)))
		if i%100 == 0 {
			if err := compareModel(r, h.model, h.applied); err != nil {
				t.Fatalf("after update %d: %v", h.applied, err)
			}
		}
	}
	st := h.w.Stats()
	if st.Growths == 0 || st.Compactions <= st.Growths {
		t.Fatalf("want growths and pure compactions, got %+v", st)
	}
	if r.Generation() != st.Generation {
		t.Fatalf("reader on generation %d, writer on %d", r.Generation(), st.Generation)
	}
	if err := h.w.Compact(t.Context()); err != nil {
		t.Fatal(err)
	}
	st = h.w.Stats()
	if st.GarbageBytes != 0 || st.Tombstones != 0 || st.LiveKeys != len(h.model) {
		t.Fatalf("after Compact: %+v", st)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	h.mustApply(set("x", "y"))
	for i := range 5000 {
		h.mustApply(set(keyN(10_000+i), "z"))
	}
	if err := h.w.Compact(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact with a cancelled context: %v", err)
	}
}

func TestCheckpoint(t *testing.T) {
	opts := smallOpts()
	opts.NoSync = false
	h := newHarness(t, opts)
	h.mustApply(set("a", "1"))
	if err := h.w.Checkpoint(); err != nil {
		t.Fatal(err)
	}
	inf, err := Inspect(h.path)
	if err != nil {
		t.Fatal(err)
	}
	if inf.CheckpointUpdateID != 1 || inf.Clean {
		t.Fatalf("after Checkpoint: %+v", inf)
	}
	h.w.Close()
	h.w = nil
	if inf, _ = Inspect(h.path); !inf.Clean || inf.CheckpointUpdateID != 1 {
		t.Fatalf("after Close: %+v", inf)
	}
}

func init() { children["hold-writer"] = holdWriterChild }

// holdWriterChild opens a writer on $CF_PATH, says "locked", and holds it
// until its standard input closes.
func holdWriterChild() int {
	w, err := OpenWriter(context.Background(), os.Getenv("CF_PATH"), testLogID, smallOpts())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("locked")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := w.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestLockAcrossProcesses checks that a writer in another process holds the
// file: OpenWriter here fails with ErrLocked naming the path, and succeeds
// once the other process has closed its writer.
func TestLockAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=hold-writer", "CF_PATH="+path)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("child: %q, %v: %s", line, err, stderr.Bytes())
	}
	_, err = OpenWriter(context.Background(), path, testLogID, smallOpts())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), path) {
		t.Fatalf("OpenWriter while another process holds the file: %v, want ErrLocked naming %s", err, path)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, stderr.Bytes())
	}
	w, err := OpenWriter(context.Background(), path, testLogID, smallOpts())
	if err != nil {
		t.Fatalf("OpenWriter after the other writer closed: %v", err)
	}
	w.Close()
}
