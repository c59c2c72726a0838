package storetest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/zeebo/xxh3"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// publish publishes a random file of n bytes as update id and returns it
// with its contents.
func publish(t *testing.T, l *snapshot.Layout, log logstore.LogID, id uint64, n int) (snapshot.Published, []byte) {
	t.Helper()
	p, data := randomFile(t, n)
	pub, err := l.Publish(ctxOf(t), p, snapshot.PublishInfo{Log: log, FormatVersion: 1, UpdateID: id, ToolVersion: "test"}, nil)
	if err != nil {
		t.Fatalf("publish %d: %v", id, err)
	}
	return pub, data
}

func latestID(t *testing.T, l *snapshot.Layout, log logstore.LogID) uint64 {
	t.Helper()
	m, err := l.Latest(ctxOf(t), log)
	if err != nil {
		t.Fatalf("latest: %v", err)
	}
	return m.UpdateID
}

func download(t *testing.T, l *snapshot.Layout, m snapshot.Manifest, opts snapshot.DownloadOptions) ([]byte, error) {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "dl")
	if _, err := l.Download(ctxOf(t), m, dst, opts); err != nil {
		if _, serr := os.Stat(dst); serr == nil {
			t.Errorf("a failed download left %s behind", dst)
		}
		return nil, err
	}
	return os.ReadFile(dst)
}

func testPublishLatest(t *testing.T, s snapshot.Store) {
	l := snapshot.NewLayout(s, "snaps")
	log := logstore.NewLogID()
	if _, err := l.Latest(ctxOf(t), log); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("latest of an empty layout: %v, want ErrNoSnapshot", err)
	}
	a, aData := publish(t, l, log, 10, 300<<10)
	if !a.PointerMoved || latestID(t, l, log) != 10 {
		t.Fatalf("first publish: %+v", a)
	}
	// Each consumer gets the parts in order, whatever order they arrive
	// in, whichever checksum the download computes beside them.
	for _, sum := range []snapshot.Checksum{snapshot.ChecksumSHA256, snapshot.ChecksumCRC64NVME, snapshot.ChecksumXXH3, snapshot.ChecksumNone} {
		var also, also2 bytes.Buffer
		got, err := download(t, l, a.Manifest, snapshot.DownloadOptions{PartSize: 64 << 10, Concurrency: 3,
			Also: []io.Writer{nil, &also, nil, &also2}, Checksum: sum})
		if err != nil || !bytes.Equal(got, aData) {
			t.Fatalf("download, checksum %d: %d bytes, %v", sum, len(got), err)
		}
		for i, b := range []*bytes.Buffer{&also, &also2} {
			if !bytes.Equal(b.Bytes(), aData) {
				t.Fatalf("checksum %d: DownloadOptions.Also's consumer %d got %d bytes, not the object's %d", sum, i, b.Len(), len(aData))
			}
		}
	}
	if b, _ := publish(t, l, log, 20, 1000); !b.PointerMoved || latestID(t, l, log) != 20 {
		t.Fatalf("newer publish: %+v", b)
	}
	if c, _ := publish(t, l, log, 15, 1000); c.PointerMoved || latestID(t, l, log) != 20 {
		t.Fatalf("an older publish moved the pointer: %+v", c)
	}
	other := logstore.NewLogID()
	if _, err := l.Latest(ctxOf(t), other); !errors.Is(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("another log's latest: %v, want ErrNoSnapshot", err)
	}
	all, err := l.List(ctxOf(t), log)
	if err != nil || len(all) != 3 || all[0].UpdateID != 20 || all[1].UpdateID != 15 || all[2].UpdateID != 10 {
		t.Fatalf("list: %v, %v", all, err)
	}
}

func testFallbacks(t *testing.T, s snapshot.Store) {
	ctx := ctxOf(t)
	l := snapshot.NewLayout(s, "")
	log := logstore.NewLogID()
	publish(t, l, log, 10, 1000)
	newer, _ := publish(t, l, log, 20, 1000)
	m := newer.Manifest

	// The object replaced by other bytes of the same size (a bit flip):
	// its ETag no longer matches the manifest.
	flipped := make([]byte, m.Size)
	if _, err := s.PutBytes(ctx, m.Object, flipped, snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(ctx, m); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("check of a replaced object: %v, want ErrCorrupt", err)
	}
	if id := latestID(t, l, log); id != 10 {
		t.Fatalf("latest with the newest object replaced: %d, want 10", id)
	}
	// The manifest names a missing object.
	if err := s.Delete(ctx, m.Object); err != nil {
		t.Fatal(err)
	}
	if err := l.Check(ctx, m); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("check of a missing object: %v, want ErrNotFound", err)
	}
	if id := latestID(t, l, log); id != 10 {
		t.Fatalf("latest with the newest object missing: %d, want 10", id)
	}
	// A garbled pointer and a garbled manifest are skipped.
	if _, err := s.PutBytes(ctx, l.Dir(log)+"latest", []byte("{"), snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBytes(ctx, l.Dir(log)+"00000000000000000030-bad.json", []byte("not json"), snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	if id := latestID(t, l, log); id != 10 {
		t.Fatalf("latest with a garbled pointer: %d, want 10", id)
	}
	// A new publish repairs the pointer.
	if p, _ := publish(t, l, log, 40, 1000); !p.PointerMoved || latestID(t, l, log) != 40 {
		t.Fatalf("publish after a garbled pointer: %+v", p)
	}
}

func testRacing(t *testing.T, s snapshot.Store) {
	l := snapshot.NewLayout(s, "race")
	log := logstore.NewLogID()
	ids := []uint64{5, 9, 7, 9, 3, 8}
	files := make([]string, len(ids))
	for i := range ids {
		files[i], _ = randomFile(t, 2000)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ids))
	for i, id := range ids {
		wg.Go(func() {
			_, errs[i] = l.Publish(ctxOf(t), files[i], snapshot.PublishInfo{Log: log, FormatVersion: 1, UpdateID: id}, nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("publish %d: %v", ids[i], err)
		}
	}
	if id := latestID(t, l, log); id != 9 {
		t.Fatalf("after racing publishers the newest is %d, want 9", id)
	}
	all, err := l.List(ctxOf(t), log)
	if err != nil || len(all) != len(ids) {
		t.Fatalf("list after the race: %d manifests, %v", len(all), err)
	}
	for _, m := range all {
		if err := l.Check(ctxOf(t), m); err != nil {
			t.Errorf("after the race: %v", err)
		}
	}
}

func testPrune(t *testing.T, s snapshot.Store) {
	ctx := ctxOf(t)
	l := snapshot.NewLayout(s, "prune")
	log := logstore.NewLogID()
	if _, err := l.Prune(ctx, log, snapshot.PruneOptions{Keep: 0}); !errors.Is(err, snapshot.ErrInvalid) {
		t.Fatalf("keep 0: %v, want ErrInvalid", err)
	}
	// An orphan object (a run that died before its manifest).
	if _, err := s.PutBytes(ctx, l.Dir(log)+fmt.Sprintf("%020d-dead.whycache", 1), []byte("x"), snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
	for id := uint64(2); id <= 6; id++ {
		publish(t, l, log, id, 100)
	}
	res, err := l.Prune(ctx, log, snapshot.PruneOptions{Keep: 2, Pinned: []uint64{3}})
	if err != nil {
		t.Fatal(err)
	}
	var left []int
	all, _ := l.List(ctx, log)
	for _, m := range all {
		left = append(left, int(m.UpdateID))
		if err := l.Check(ctx, m); err != nil {
			t.Errorf("kept snapshot %d: %v", m.UpdateID, err)
		}
	}
	sort.Ints(left)
	if fmt.Sprint(left) != "[3 5 6]" || len(res.Deleted) != 2 || len(res.Orphans) != 1 {
		t.Fatalf("after prune keep 2 pinned 3: left %v, deleted %d, orphans %v", left, len(res.Deleted), res.Orphans)
	}
	for _, m := range res.Deleted {
		if _, err := s.Stat(ctx, m.Object); !errors.Is(err, snapshot.ErrNotFound) {
			t.Errorf("pruned object %s: %v", m.Object, err)
		}
	}
}

func testDownloadCorrupt(t *testing.T, s snapshot.Store) {
	l := snapshot.NewLayout(s, "dl")
	log := logstore.NewLogID()
	p, data := publish(t, l, log, 1, 200<<10)
	opts := snapshot.DownloadOptions{PartSize: 32 << 10, Concurrency: 4}
	if sum := xxh3.Hash128(data).Bytes(); p.Manifest.XXH3 != hex.EncodeToString(sum[:]) {
		t.Fatalf("manifest's XXH3-128 %q, the file's is %x", p.Manifest.XXH3, sum)
	}
	bad := p.Manifest
	bad.SHA256 = "00" + bad.SHA256[2:]
	if _, err := download(t, l, bad, opts); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("download with a wrong SHA-256: %v, want ErrCorrupt", err)
	}
	if _, err := download(t, l, p.Manifest, snapshot.DownloadOptions{PartSize: 32 << 10, Concurrency: 4,
		Checksum: snapshot.ChecksumCRC64NVME}); err != nil {
		t.Fatalf("download checking the CRC64NVME: %v", err)
	}
	if _, err := download(t, l, p.Manifest, snapshot.DownloadOptions{PartSize: 32 << 10, Concurrency: 4,
		Checksum: snapshot.ChecksumXXH3}); err != nil {
		t.Fatalf("download checking the XXH3-128: %v", err)
	}
	bad = p.Manifest
	bad.XXH3 = "00" + bad.XXH3[2:]
	if _, err := download(t, l, bad, snapshot.DownloadOptions{Checksum: snapshot.ChecksumXXH3}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("download with a wrong XXH3-128: %v, want ErrCorrupt", err)
	}
	bad = p.Manifest
	bad.XXH3, bad.SHA256 = "", "00"+bad.SHA256[2:] // a manifest from before XXH3: its SHA-256 is checked
	if _, err := download(t, l, bad, snapshot.DownloadOptions{Checksum: snapshot.ChecksumXXH3}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("download checking the XXH3-128 of a manifest without one, wrong SHA-256: %v, want ErrCorrupt", err)
	}
	bad = p.Manifest
	bad.CRC64NVME = "AAAAAAAAAAA="
	if _, err := download(t, l, bad, snapshot.DownloadOptions{Checksum: snapshot.ChecksumCRC64NVME}); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("download with a wrong CRC64NVME: %v, want ErrCorrupt", err)
	}
	bad = p.Manifest
	bad.ETag = "not-the-etag"
	if _, err := download(t, l, bad, opts); !errors.Is(err, snapshot.ErrChanged) {
		t.Fatalf("download pinned to another version: %v, want ErrChanged", err)
	}
	bad = p.Manifest
	bad.Size += 10 // the object is shorter than the manifest says
	if _, err := download(t, l, bad, opts); err == nil {
		t.Fatal("download of a truncated object succeeded")
	}
}
