package snapshot

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// TestInOrderHandoff checks that Also receives the object's bytes exactly,
// in order, whether they come from the fetching goroutines' buffers, read
// back from the file, or both, with parts not aligned to the buffers.
func TestInOrderHandoff(t *testing.T) {
	ctx := t.Context()
	l, err := Open(ctx, filepath.Join(t.TempDir(), "store"), S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 5<<20+12345)
	rand.Read(data)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	pub, err := l.Publish(ctx, src, PublishInfo{Log: logstore.LogID{1}, FormatVersion: 1, UpdateID: 1, ToolVersion: "test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		conc     int
		partSize int64
		limit    int64 // of the hand-off; 1 allows no buffer
	}{
		{1, 300 << 10, 1},
		{1, 300 << 10, 0},
		{4, 300 << 10, 1},
		{4, 300 << 10, copyBuffer},
		{4, 1 << 20, 0},
		{8, 100 << 10, 2 * copyBuffer},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("conc=%d/part=%d/limit=%d", tc.conc, tc.partSize, tc.limit), func(t *testing.T) {
			var got bytes.Buffer
			dst := filepath.Join(t.TempDir(), "dl")
			st, err := l.Download(ctx, pub.Manifest, dst, DownloadOptions{PartSize: tc.partSize, Concurrency: tc.conc,
				Checksum: ChecksumNone, Also: &got, handoffLimit: tc.limit})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("Also got %d bytes differing from the object's %d", got.Len(), len(data))
			}
			if st.Handed+st.ReadBack != int64(len(data)) {
				t.Errorf("handed %d + read back %d bytes, want %d", st.Handed, st.ReadBack, len(data))
			}
			if tc.limit == 1 && st.Handed != 0 {
				t.Errorf("handed %d bytes with no room for a buffer", st.Handed)
			}
		})
	}
}

// TestInOrderMixed checks inOrder on a hand-made state where a part's
// bytes are in the file only, then handed over, then in the file only.
func TestInOrderMixed(t *testing.T) {
	data := make([]byte, 1000)
	rand.Read(data)
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	d := &download{f: f, m: Manifest{Size: 1000}, opts: DownloadOptions{PartSize: 600}, parts: 2,
		written: make([]atomic.Int64, 2), wake: make(chan struct{}, 1)}
	d.q.init(2, 1, 600, 0)
	handed := func(off, n int) chunk {
		b := make([]byte, copyBuffer)
		copy(b, data[off:off+n])
		d.q.inQueue.Add(1)
		return chunk{off: int64(off), b: &b, n: n}
	}
	// Part 0: [0,100) file only, [100,250) handed, [250,600) file only;
	// part 1: [600,700) handed, [700,1000) file only.
	d.q.queued[0] = []chunk{handed(100, 150)}
	d.q.queued[1] = []chunk{handed(600, 100)}
	d.written[0].Store(600)
	d.written[1].Store(400)
	var got bytes.Buffer
	if err := d.inOrder(t.Context(), &got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("got %d bytes differing from the file's %d", got.Len(), len(data))
	}
	if h, r := d.handed.Load(), d.reread.Load(); h != 250 || r != 750 {
		t.Errorf("handed %d and read back %d bytes, want 250 and 750", h, r)
	}
}
