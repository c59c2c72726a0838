package snapshot_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/internal/testserver"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/snapshot"
	"github.com/whycache/whycache/pkg/snapshot/maker"
)

func TestMain(m *testing.M) {
	if childMain() {
		return
	}
	testserver.Main(m)
}

// backend is a log store the tests run against.
type backend struct {
	name string
	url  func(t *testing.T) string // a fresh, empty store for one test
}

var allBackends = []backend{
	{"dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "log") }},
	{"mariadb", func(t *testing.T) string { return "mysql:" + testserver.MySQLDatabase(t) }},
	{"postgres", func(t *testing.T) string { return testserver.PostgresDatabase(t) }},
}

// s3Layout returns a snapshot layout on the test S3 server under a prefix
// of the test's own, with 5 MiB parts so that test-sized files go up in
// several parts.
func s3Layout(t *testing.T) (*snapshot.Layout, string) {
	t.Helper()
	cfg := testserver.S3(t)
	u := cfg.URL(testserver.S3Prefix())
	l, err := snapshot.Open(t.Context(), u, s3Options(cfg))
	if err != nil {
		t.Fatal(err)
	}
	return l, u
}

func s3Options(cfg testserver.S3Config) snapshot.S3Options {
	return snapshot.S3Options{Credentials: snapshot.Credentials{AccessKeyID: cfg.AccessKey, SecretAccessKey: cfg.SecretKey},
		PartSize: 5 << 20, Concurrency: 4}
}

func openStore(t *testing.T, url string) logstore.Store {
	t.Helper()
	s, err := backends.Open(t.Context(), url, logstore.Options{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// agentConfig returns an agent over the store at url that bootstraps from
// the layout's snapshots.
func agentConfig(t *testing.T, url, node string, layout *snapshot.Layout) (nodeagent.Config, *nodeagent.SnapshotBootstrapper) {
	t.Helper()
	bs, err := nodeagent.NewSnapshotBootstrapper(nodeagent.SnapshotConfig{Layout: layout, Logger: testr.New(t).WithName("snapshot"),
		Download: snapshot.DownloadOptions{PartSize: 1 << 20, Concurrency: 4}, MaxJitter: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return nodeagent.Config{
		Dir:      filepath.Join(t.TempDir(), node),
		NodeName: node,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, url, opts)
		},
		Bootstrap:         bs,
		HealthAddr:        "127.0.0.1:0",
		HeartbeatInterval: 50 * time.Millisecond,
		RetryInterval:     10 * time.Millisecond,
		Cache:             cachefile.Options{NoSync: true},
		Logger:            testr.New(t),
	}, bs
}

// write appends n updates of a few keys each (sets, overwrites and
// deletes) and returns the last id.
func write(t *testing.T, s logstore.Store, from, n int) uint64 {
	t.Helper()
	var id uint64
	for i := from; i < from+n; i++ {
		ops := []logstore.Op{logstore.Set([]byte(fmt.Sprintf("key-%03d", i%211)), []byte(fmt.Sprintf("value-%d-%s", i, pad)))}
		if i%7 == 3 {
			ops = append(ops, logstore.Delete([]byte(fmt.Sprintf("key-%03d", (i*13)%211))))
		}
		var err error
		if id, err = s.Append(context.Background(), ops); err != nil {
			t.Error(err)
			return id
		}
	}
	return id
}

var pad = string(make([]byte, 200))

// snap makes a snapshot of the store's log and returns its update id.
func snap(t *testing.T, s logstore.Store, l *snapshot.Layout) uint64 {
	t.Helper()
	res, err := maker.Create(t.Context(), maker.Options{Layout: l, Store: s, TempDir: t.TempDir(),
		Cache: cachefile.Options{NoSync: true}, Log: testr.New(t).WithName("maker")})
	if err != nil {
		t.Fatal(err)
	}
	return res.UpdateID
}

// readFile returns a cache file's contents.
func readFile(t *testing.T, path string) map[string]string {
	t.Helper()
	if _, err := cachefile.Verify(t.Context(), path); err != nil {
		t.Fatal(err)
	}
	r, err := cachefile.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := map[string]string{}
	for k, v := range r.All() {
		m[string(k)] = string(v)
	}
	return m
}

// replay returns the state of the whole log, up to through.
func replay(t *testing.T, s logstore.Store) map[string]string {
	t.Helper()
	m := map[string]string{}
	h, err := s.Horizon(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var after uint64
	for {
		ups, err := s.ReadReplay(t.Context(), after, 0, h)
		if err != nil {
			t.Fatal(err)
		}
		if len(ups) == 0 {
			return m
		}
		for _, u := range ups {
			for _, op := range u.Ops {
				if op.Type == logstore.OpSet {
					m[string(op.Key)] = string(op.Value)
				} else {
					delete(m, string(op.Key))
				}
			}
			after = u.ID
		}
	}
}

func equalMaps(got, want map[string]string) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			return fmt.Errorf("key %q: %.20q, want %.20q (present: %v)", k, g, v, ok)
		}
	}
	return nil
}

// metric reads one line of the agent's /metrics ("" when absent).
func metric(t *testing.T, a *agenttest.Agent, name string) string {
	t.Helper()
	resp, err := http.Get("http://" + a.HealthAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func openBackend(ctx context.Context, url string, o logstore.Options) (logstore.Store, error) {
	return backends.Open(ctx, url, o)
}
