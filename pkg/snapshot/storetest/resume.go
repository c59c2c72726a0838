package storetest

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// interrupted downloads m into dst with Resume and cancels it once more
// than stop bytes are in, returning the error.
func interrupted(t *testing.T, l *snapshot.Layout, m snapshot.Manifest, dst string, stop int64) error {
	t.Helper()
	ctx, cancel := context.WithCancel(ctxOf(t))
	defer cancel()
	_, err := l.Download(ctx, m, dst, snapshot.DownloadOptions{PartSize: 32 << 10, Concurrency: 2, Resume: true,
		Progress: func(done, _ int64) {
			if done > stop {
				cancel()
			}
		}})
	return err
}

// testDownloadResume: an interrupted download keeps its file and progress;
// the next one fetches only what is missing and checks the whole; a kept
// part that no longer matches its CRC is fetched again; a download of
// another object version into the same file starts over.
func testDownloadResume(t *testing.T, s snapshot.Store) {
	l := snapshot.NewLayout(s, "resume")
	log := logstore.NewLogID()
	p, data := publish(t, l, log, 1, 400<<10)
	m := p.Manifest
	dst := filepath.Join(t.TempDir(), "dl")
	opts := snapshot.DownloadOptions{PartSize: 32 << 10, Concurrency: 2, Resume: true}
	if err := interrupted(t, l, m, dst, 150<<10); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted download: %v, want context.Canceled", err)
	}
	if _, err := os.Stat(dst + snapshot.ProgressSuffix); err != nil {
		t.Fatalf("the interrupted download kept no progress record: %v", err)
	}
	st, err := l.Download(ctxOf(t), m, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed == 0 || st.Fetched >= m.Size || st.Fetched+st.Resumed != m.Size {
		t.Errorf("resumed download: %+v of %d bytes, want parts kept and the rest fetched", st, m.Size)
	}
	sameFile(t, dst, data)
	if _, err := os.Stat(dst + snapshot.ProgressSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("progress record after the download: %v", err)
	}

	// A kept part that changed on disk is fetched again.
	os.Remove(dst)
	if err := interrupted(t, l, m, dst, 150<<10); err == nil {
		t.Fatal("interrupted download succeeded")
	}
	FlipBits(t, dst, 5, 0xff)
	st, err = l.Download(ctxOf(t), m, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Fetched+st.Resumed != m.Size || st.Fetched < 32<<10 {
		t.Errorf("download after a kept part changed: %+v, want the first part fetched again", st)
	}
	sameFile(t, dst, data)

	// Another version of the object: nothing kept.
	os.Remove(dst)
	if err := interrupted(t, l, m, dst, 150<<10); err == nil {
		t.Fatal("interrupted download succeeded")
	}
	p2, data2 := publish(t, l, log, 2, 400<<10)
	st, err = l.Download(ctxOf(t), p2.Manifest, dst, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Resumed != 0 || st.Fetched != p2.Manifest.Size {
		t.Errorf("download of another object over a partial one: %+v, want all fetched", st)
	}
	sameFile(t, dst, data2)

	// A corrupt object removes the partial download and its record.
	bad := m
	bad.SHA256 = "00" + bad.SHA256[2:]
	os.Remove(dst)
	if _, err := l.Download(ctxOf(t), bad, dst, opts); !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("resumable download with a wrong SHA-256: %v, want ErrCorrupt", err)
	}
	for _, p := range []string{dst, dst + snapshot.ProgressSuffix} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("a corrupt download left %s: %v", p, err)
		}
	}
}

func sameFile(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the object", path)
	}
}

// FlipBits flips the bits of mask in the byte at off of the file at path:
// damage for a test to find.
func FlipBits(t testing.TB, path string, off int64, mask byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= mask
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
