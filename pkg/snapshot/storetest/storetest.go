// Package storetest is the conformance suite for snapshot.Store
// implementations: object semantics (whole and ranged reads, reads pinned
// to an ETag, conditional writes, listing, deletion) and the snapshot
// layout on top of them (publish, latest, fallbacks, racing publishers,
// retention). Every implementation runs it against the real thing: the
// directory store on a temporary directory, the S3 store against a real
// S3-compatible server.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/whycache/whycache/pkg/snapshot"
)

// NewStore returns an empty store (or an empty part of one) for one test.
type NewStore func(t *testing.T) snapshot.Store

// Run runs the whole suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(*testing.T, snapshot.Store)
	}{
		{"BytesRoundTrip", testBytes},
		{"Missing", testMissing},
		{"ConditionalPut", testConditional},
		{"FileAndRanges", testFileAndRanges},
		{"RangePinnedToVersion", testPinned},
		{"ListAndDelete", testList},
		{"LayoutPublishLatest", testPublishLatest},
		{"LayoutFallbacks", testFallbacks},
		{"LayoutRacingPublishers", testRacing},
		{"LayoutPrune", testPrune},
		{"LayoutPruneKeepsRewritePin", testPruneRewritePin},
		{"LayoutDownloadRejectsCorrupt", testDownloadCorrupt},
		{"LayoutDownloadResumes", testDownloadResume},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testBytes(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	for _, data := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("abc"), 10000)} {
		inf, err := s.PutBytes(ctx, "a/b/obj", data, snapshot.Condition{})
		if err != nil {
			t.Fatalf("put %d bytes: %v", len(data), err)
		}
		got, ginf, err := s.GetBytes(ctx, "a/b/obj")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("get: %d bytes, %v; want %d bytes", len(got), err, len(data))
		}
		if ginf.ETag != inf.ETag || inf.ETag == "" {
			t.Fatalf("ETag from put %q, from get %q", inf.ETag, ginf.ETag)
		}
		st, err := s.Stat(ctx, "a/b/obj")
		if err != nil || st.Size != int64(len(data)) || st.ETag != inf.ETag {
			t.Fatalf("stat: %+v, %v", st, err)
		}
	}
}

func testMissing(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	if _, _, err := s.GetBytes(ctx, "nope"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("get missing: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, "nope"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Errorf("stat missing: %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "nope"); err != nil {
		t.Errorf("delete missing: %v, want nil", err)
	}
	if l, err := s.List(ctx, "nope/"); err != nil || len(l) != 0 {
		t.Errorf("list of nothing: %v, %v", l, err)
	}
}

func testConditional(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	first, err := s.PutBytes(ctx, "p", []byte("1"), snapshot.Condition{IfAbsent: true})
	if err != nil {
		t.Fatalf("create if absent: %v", err)
	}
	if _, err := s.PutBytes(ctx, "p", []byte("2"), snapshot.Condition{IfAbsent: true}); !errors.Is(err, snapshot.ErrPrecondition) {
		t.Fatalf("second create if absent: %v, want ErrPrecondition", err)
	}
	second, err := s.PutBytes(ctx, "p", []byte("3"), snapshot.Condition{IfMatch: first.ETag})
	if err != nil {
		t.Fatalf("replace if match: %v", err)
	}
	if _, err := s.PutBytes(ctx, "p", []byte("4"), snapshot.Condition{IfMatch: first.ETag}); !errors.Is(err, snapshot.ErrPrecondition) {
		t.Fatalf("replace with a stale ETag: %v, want ErrPrecondition", err)
	}
	if got, _, _ := s.GetBytes(ctx, "p"); string(got) != "3" {
		t.Fatalf("after the failed writes the object is %q, want %q", got, "3")
	}
	if _, err := s.PutBytes(ctx, "q", []byte("x"), snapshot.Condition{IfMatch: second.ETag}); !errors.Is(err, snapshot.ErrPrecondition) {
		t.Fatalf("if-match on a missing object: %v, want ErrPrecondition", err)
	}
}

// randomFile writes n random bytes to a file in t's temporary directory.
func randomFile(t *testing.T, n int) (string, []byte) {
	t.Helper()
	b := make([]byte, n)
	_, _ = rand.Read(b)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

func testFileAndRanges(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	// Above the S3 store's part size in tests (5 MiB): a multipart upload.
	for _, n := range []int{1, 100 << 10, 11 << 20} {
		p, data := randomFile(t, n)
		var most atomic.Int64 // progress may come from several goroutines
		inf, err := s.PutFile(ctx, "files/f", p, func(done, total int64) {
			for cur := most.Load(); done > cur && !most.CompareAndSwap(cur, done); cur = most.Load() {
			}
		})
		if err != nil {
			t.Fatalf("put file of %d bytes: %v", n, err)
		}
		if inf.Size != int64(n) || most.Load() != int64(n) {
			t.Fatalf("put %d bytes: size %d, progress reached %d", n, inf.Size, most.Load())
		}
		h := snapshot.NewCRC64NVME()
		h.Write(data)
		st, err := s.Stat(ctx, "files/f")
		if err != nil || st.ETag != inf.ETag {
			t.Fatalf("stat: %+v %v; put said ETag %s", st, err, inf.ETag)
		}
		if st.CRC64NVME == "" || st.CRC64NVME != inf.CRC64NVME {
			t.Fatalf("stored CRC64NVME %q, put computed %q", st.CRC64NVME, inf.CRC64NVME)
		}
		for _, r := range [][2]int{{0, n}, {0, 1}, {n - 1, 1}, {n / 3, n/2 + 1}} {
			rc, err := s.ReadRange(ctx, "files/f", inf.ETag, int64(r[0]), int64(r[1]))
			if err != nil {
				t.Fatalf("range %v of %d: %v", r, n, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
				t.Fatalf("range %v of %d: %d bytes, %v", r, n, len(got), err)
			}
		}
	}
}

func testPinned(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	old, err := s.PutBytes(ctx, "v", bytes.Repeat([]byte("o"), 100), snapshot.Condition{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBytes(ctx, "v", bytes.Repeat([]byte("n"), 100), snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	rc, err := s.ReadRange(ctx, "v", old.ETag, 0, 10)
	if err == nil {
		b, _ := io.ReadAll(rc)
		rc.Close()
		t.Fatalf("a read pinned to the replaced version returned %q", b)
	}
	if !errors.Is(err, snapshot.ErrChanged) {
		t.Fatalf("read pinned to a replaced version: %v, want ErrChanged", err)
	}
	if err := s.Delete(ctx, "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadRange(ctx, "v", old.ETag, 0, 10); !errors.Is(err, snapshot.ErrNotFound) && !errors.Is(err, snapshot.ErrChanged) {
		t.Fatalf("read of a deleted object: %v, want ErrNotFound or ErrChanged", err)
	}
}

func testList(t *testing.T, s snapshot.Store) {
	ctx := t.Context()
	keys := []string{"l/a", "l/b/c", "l/b/d", "m/x"}
	for _, k := range keys {
		if _, err := s.PutBytes(ctx, k, []byte(k), snapshot.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx, "l/")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range got {
		names = append(names, o.Key)
		if o.Size != int64(len(o.Key)) {
			t.Errorf("listed %s with size %d", o.Key, o.Size)
		}
	}
	if want := []string{"l/a", "l/b/c", "l/b/d"}; !equal(names, want) {
		t.Fatalf("list l/: %v, want %v", names, want)
	}
	if err := s.Delete(ctx, "l/b/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, "l/b/c"); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("stat after delete: %v", err)
	}
	got, _ = s.List(ctx, "l/")
	if len(got) != 2 {
		t.Fatalf("after delete, list has %d objects, want 2", len(got))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// ctxOf is t.Context with a type the helpers share.
func ctxOf(t *testing.T) context.Context { return t.Context() }
