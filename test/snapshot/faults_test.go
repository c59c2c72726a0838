package snapshot_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/internal/testserver"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
	"github.com/whycache/whycache/pkg/snapshot/storetest"
)

// counterValue reads a labelled counter from the bootstrapper's metrics.
func counterValue(t *testing.T, c prometheus.Collector, name, label, value string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// downloadTo fetches a snapshot's object into a local file.
func downloadTo(t *testing.T, l *snapshot.Layout, m snapshot.Manifest) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "obj")
	if _, err := l.Download(t.Context(), m, p, snapshot.DownloadOptions{}); err != nil {
		t.Fatal(err)
	}
	return p
}

// publishFile publishes a local file as a snapshot of log at update id.
func publishFile(t *testing.T, l *snapshot.Layout, log logstore.LogID, id uint64, path string) snapshot.Manifest {
	t.Helper()
	p, err := l.Publish(t.Context(), path, snapshot.PublishInfo{Log: log, FormatVersion: cachefile.Version, UpdateID: id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p.Manifest
}

// TestBadSnapshotFallsBack: whatever is wrong with the newest snapshot, it
// is never installed; the bootstrap falls back to the previous one, says
// why in its metrics, and the file it yields tails to a full replay's
// state.
func TestBadSnapshotFallsBack(t *testing.T) {
	tests := []struct {
		name   string
		reason string
		// spoil turns the good newest snapshot into a bad one.
		spoil func(t *testing.T, l *snapshot.Layout, s logstore.Store, newest snapshot.Manifest)
	}{
		{"bit flip in the object", "object_mismatch", func(t *testing.T, l *snapshot.Layout, _ logstore.Store, m snapshot.Manifest) {
			p := downloadTo(t, l, m)
			storetest.FlipBits(t, p, m.Size/2, 0x10)
			if _, err := l.Store().PutFile(t.Context(), m.Object, p, nil); err != nil {
				t.Fatal(err)
			}
		}},
		{"bit flip published with its own checksum", "corrupt", func(t *testing.T, l *snapshot.Layout, s logstore.Store, m snapshot.Manifest) {
			p := downloadTo(t, l, m)
			storetest.FlipBits(t, p, m.Size-100, 0x10)
			removeManifest(t, l, m)
			publishFile(t, l, s.ID(), m.UpdateID, p)
		}},
		// Caught as the file arrives by the manifest's XXH3-128:
		// "checksum"; by the file's own SHA-256 for a manifest written
		// before manifests had one: "corrupt".
		{"bit flip in transit", "checksum", func(t *testing.T, l *snapshot.Layout, _ logstore.Store, m snapshot.Manifest) {
			flipInTransit(t, m.Object)
		}},
		{"bit flip in transit, manifest without XXH3-128", "corrupt", func(t *testing.T, l *snapshot.Layout, _ logstore.Store, m snapshot.Manifest) {
			m.XXH3 = ""
			rewriteManifest(t, l, m)
			flipInTransit(t, m.Object)
		}},
		{"truncated object", "corrupt", func(t *testing.T, l *snapshot.Layout, s logstore.Store, m snapshot.Manifest) {
			p := downloadTo(t, l, m)
			if err := os.Truncate(p, m.Size/2); err != nil {
				t.Fatal(err)
			}
			removeManifest(t, l, m)
			publishFile(t, l, s.ID(), m.UpdateID, p)
		}},
		{"manifest pointing at a missing object", "object_missing", func(t *testing.T, l *snapshot.Layout, _ logstore.Store, m snapshot.Manifest) {
			if err := l.Store().Delete(t.Context(), m.Object); err != nil {
				t.Fatal(err)
			}
		}},
		{"wrong format version", "version", func(t *testing.T, l *snapshot.Layout, _ logstore.Store, m snapshot.Manifest) {
			m.FormatVersion = cachefile.Version + 1
			rewriteManifest(t, l, m)
		}},
		{"file of another log", "identity", func(t *testing.T, l *snapshot.Layout, s logstore.Store, m snapshot.Manifest) {
			other := openStore(t, filepath.Join(t.TempDir(), "other"))
			write(t, other, 0, int(m.UpdateID))
			otherLayout := snapshot.NewLayout(l.Store(), "other")
			snap(t, other, otherLayout)
			om, err := otherLayout.Latest(t.Context(), other.ID())
			if err != nil {
				t.Fatal(err)
			}
			removeManifest(t, l, m)
			publishFile(t, l, s.ID(), m.UpdateID, downloadTo(t, otherLayout, om))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := openStore(t, filepath.Join(t.TempDir(), "log"))
			layout, snapURL := s3Layout(t)
			flipKey = ""
			write(t, store, 0, 200)
			older := snap(t, store, layout)
			write(t, store, 200, 100)
			snap(t, store, layout)
			newest, err := layout.Latest(t.Context(), store.ID())
			if err != nil || newest.UpdateID == older {
				t.Fatalf("newest snapshot %+v, %v", newest, err)
			}
			write(t, store, 300, 20)
			tc.spoil(t, layout, store, newest)

			t.Run("Bootstrap", func(t *testing.T) {
				_, bs := agentConfig(t, "", "n", transitLayout(t, layout, snapURL))
				dir := t.TempDir()
				path, err := bs.Bootstrap(t.Context(), store, dir, cachefile.Options{NoSync: true})
				if err != nil {
					t.Fatalf("bootstrap: %v", err)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, ".snapshot-*")); len(left) != 1 || left[0] != path {
					t.Errorf("files left in the instance directory: %v, want only %s", left, path)
				}
				w := openWriter(t, filepath.Join(dir, "cache"), store)
				if err := w.Replace(t.Context(), path); err != nil {
					t.Fatal(err)
				}
				checkFallback(t, bs, w, store, older, tc.reason)
			})
			t.Run("Install", func(t *testing.T) {
				_, bs := agentConfig(t, "", "n", transitLayout(t, layout, snapURL))
				dir := t.TempDir()
				w := openWriter(t, filepath.Join(dir, "cache"), store)
				if err := bs.Install(t.Context(), store, w, dir, cachefile.Options{NoSync: true}); err != nil {
					t.Fatalf("install: %v", err)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, ".snapshot-*")); len(left) != 0 {
					t.Errorf("files left in the instance directory: %v", left)
				}
				checkFallback(t, bs, w, store, older, tc.reason)
			})
		})
	}
}

func openWriter(t *testing.T, path string, store logstore.Store) *cachefile.Writer {
	t.Helper()
	w, err := cachefile.OpenWriter(t.Context(), path, store.ID(), cachefile.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// checkFallback checks that w holds the older snapshot, that the failure
// was counted with its reason, and that tailing the log from there gives
// a full replay's state.
func checkFallback(t *testing.T, bs *nodeagent.SnapshotBootstrapper, w *cachefile.Writer, store logstore.Store, older uint64, reason string) {
	t.Helper()
	if w.UpdateID() != older {
		t.Fatalf("installed file at update %d, want the older snapshot's %d", w.UpdateID(), older)
	}
	if n := counterValue(t, bs, "whycache_agent_bootstrap_snapshot_failures_total", "reason", reason); n < 1 {
		t.Errorf("failures with reason %q = %v, want at least 1", reason, n)
	}
	if n := counterValue(t, bs, "whycache_agent_bootstrap_source_total", "source", "snapshot"); n != 1 {
		t.Errorf("bootstraps from a snapshot = %v, want 1", n)
	}
	tailTo(t, store, w)
	if err := equalMaps(readFile(t, w.Path()), replay(t, store)); err != nil {
		t.Fatalf("fallback snapshot + tail vs replay: %v", err)
	}
}

// TestNoUsableSnapshot: with every snapshot bad, a log whose horizon is 0
// is replayed, and one whose horizon is above 0 fails clearly.
func TestNoUsableSnapshot(t *testing.T) {
	store := openStore(t, filepath.Join(t.TempDir(), "log"))
	layout, _ := s3Layout(t)
	last := write(t, store, 0, 50)
	snap(t, store, layout)
	m, _ := layout.Latest(t.Context(), store.ID())
	if err := layout.Store().Delete(t.Context(), m.Object); err != nil {
		t.Fatal(err)
	}
	_, bs := agentConfig(t, "", "n", layout)
	path, err := bs.Bootstrap(t.Context(), store, t.TempDir(), cachefile.Options{NoSync: true})
	if err != nil {
		t.Fatalf("bootstrap with horizon 0: %v", err)
	}
	if inf, err := cachefile.Verify(t.Context(), path); err != nil || inf.UpdateID != last {
		t.Fatalf("replayed file at %d (%v), want %d", inf.UpdateID, err, last)
	}
	if n := counterValue(t, bs, "whycache_agent_bootstrap_source_total", "source", "replay"); n != 1 {
		t.Errorf("replays = %v, want 1", n)
	}
	if _, err := store.Rewrite(t.Context(), logstore.RewriteOptions{Through: last, DeleteLimit: last}); err != nil {
		t.Fatal(err)
	}
	_, err = bs.Bootstrap(t.Context(), store, t.TempDir(), cachefile.Options{NoSync: true})
	if err == nil || !errorsIs(err, snapshot.ErrNoSnapshot) {
		t.Fatalf("bootstrap above horizon 0 with no snapshot: %v, want ErrNoSnapshot", err)
	}
	t.Logf("the error says: %v", err)
}

func removeManifest(t *testing.T, l *snapshot.Layout, m snapshot.Manifest) {
	t.Helper()
	if err := l.Store().Delete(t.Context(), m.Key); err != nil {
		t.Fatal(err)
	}
}

func rewriteManifest(t *testing.T, l *snapshot.Layout, m snapshot.Manifest) {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Store().PutBytes(t.Context(), m.Key, b, snapshot.Condition{}); err != nil {
		t.Fatal(err)
	}
}

// tailTo applies the log after the writer's id, as an agent would.
func tailTo(t *testing.T, s logstore.Store, w *cachefile.Writer) {
	t.Helper()
	for {
		ups, err := s.Read(t.Context(), w.UpdateID(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) == 0 {
			return
		}
		for _, u := range ups {
			var ops []cachefile.Op
			for _, op := range u.Ops {
				ops = append(ops, cachefile.Op{Delete: op.Type == logstore.OpDelete, Key: op.Key, Value: op.Value})
			}
			if err := w.Apply(u.ID, ops); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// flipKey names the object whose ranged GETs transitLayout damages.
var flipKey string

func flipInTransit(t *testing.T, key string) {
	t.Helper()
	flipKey = key
	t.Cleanup(func() { flipKey = "" })
}

// transitLayout returns layout, or when a test asked for damage in
// transit, the same layout read through an HTTP client that flips one bit
// of the first part of flipKey's object.
func transitLayout(t *testing.T, layout *snapshot.Layout, snapURL string) *snapshot.Layout {
	t.Helper()
	if flipKey == "" {
		return layout
	}
	opts := s3Options(testserver.S3(t))
	opts.HTTPClient = &http.Client{Transport: flipTransport{http.DefaultTransport, flipKey}}
	l, err := snapshot.Open(t.Context(), snapURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type flipTransport struct {
	rt  http.RoundTripper
	key string
}

func (f flipTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.rt.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, f.key) &&
		strings.HasPrefix(r.Header.Get("Range"), "bytes=0-") {
		resp.Body = &flipBody{ReadCloser: resp.Body}
	}
	return resp, err
}

// flipBody flips a bit of the 5000th byte it passes on.
type flipBody struct {
	io.ReadCloser
	n int
}

func (b *flipBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if b.n <= 5000 && b.n+n > 5000 {
		p[5000-b.n] ^= 0x04
	}
	b.n += n
	return n, err
}
