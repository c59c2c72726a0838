package snapshot_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/whycache/whycache/internal/agenttest"
	"github.com/whycache/whycache/internal/testserver"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// slowClient is an HTTP client whose response bodies arrive slowly, so
// that a test can interrupt a download of a few MiB halfway.
func slowClient() *http.Client {
	return &http.Client{Transport: slowTransport{http.DefaultTransport}}
}

type slowTransport struct{ rt http.RoundTripper }

func (s slowTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.rt.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && r.Header.Get("Range") != "" {
		resp.Body = &slowBody{resp.Body}
	}
	return resp, err
}

type slowBody struct{ io.ReadCloser }

func (b *slowBody) Read(p []byte) (int, error) {
	time.Sleep(10 * time.Millisecond)
	return b.ReadCloser.Read(p[:min(len(p), 32<<10)])
}

// bigLog writes about 8 MiB of keys and values in large updates.
func bigLog(t *testing.T, s logstore.Store) uint64 {
	t.Helper()
	var id uint64
	val := strings.Repeat("v", 1000)
	for u := range 8 {
		ops := make([]logstore.Op, 1000)
		for i := range ops {
			ops[i] = logstore.Set([]byte(fmt.Sprintf("big-%d-%d", u, i)), []byte(val))
		}
		var err error
		if id, err = s.Append(t.Context(), ops); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// waitFor polls cond until it holds, failing after 30 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// downloads lists the snapshot downloads in an instance (or private)
// directory.
func downloads(dir string) []string {
	var all []string
	for _, d := range []string{dir, filepath.Join(dir, cachefile.PrivateDirName)} {
		m, _ := filepath.Glob(filepath.Join(d, ".snapshot-*"))
		all = append(all, m...)
	}
	return all
}

// progressRecorded reports whether an interrupted download in dir has
// recorded at least one complete part.
func progressRecorded(dir string) bool {
	for _, p := range downloads(dir) {
		if strings.HasSuffix(p, snapshot.ProgressSuffix) {
			return true
		}
	}
	return false
}

// TestServerStoppedMidDownload: the S3 server goes away halfway through a
// download; the bootstrap fails with an error and installs nothing, but
// keeps the parts it has; once the server is back, the next bootstrap
// fetches only the rest (by the bootstrapper's metrics) and yields the
// snapshot's state.
func TestServerStoppedMidDownload(t *testing.T) {
	srv, err := testserver.StartS3(t.Context(), "")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("S3 server: %v", err)
		}
		t.Skipf("S3 server unavailable: %v", err)
	}
	defer srv.Stop()
	cfg := srv.S3()
	store := openStore(t, filepath.Join(t.TempDir(), "log"))
	bigLog(t, store)
	opts := s3Options(cfg)
	fast, err := snapshot.Open(t.Context(), cfg.URL("interrupt"), opts)
	if err != nil {
		t.Fatal(err)
	}
	snap(t, store, fast)
	m, err := fast.Latest(t.Context(), store.ID())
	if err != nil {
		t.Fatal(err)
	}
	opts.HTTPClient = slowClient()
	slow, err := snapshot.Open(t.Context(), cfg.URL("interrupt"), opts)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := nodeagent.NewSnapshotBootstrapper(nodeagent.SnapshotConfig{Layout: slow, Logger: testr.New(t),
		Download: snapshot.DownloadOptions{PartSize: 1 << 20, Concurrency: 2}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		p, err := bs.Bootstrap(context.Background(), store, dir, cachefile.Options{NoSync: true})
		if err == nil {
			err = fmt.Errorf("bootstrap succeeded with the server stopped halfway: %s", p)
		}
		done <- err
	}()
	waitFor(t, "a part of the download to complete", func() bool { return progressRecorded(dir) })
	var firstFetched float64
	err = srv.Restart(t.Context(), func() {
		select {
		case err := <-done:
			t.Logf("bootstrap failed as it should: %v", err)
		case <-time.After(2 * time.Minute):
			t.Fatal("bootstrap still running two minutes after the server stopped")
		}
		if !progressRecorded(dir) {
			t.Errorf("the interrupted download kept no progress: %v", downloads(dir))
		}
		firstFetched = plainCounter(t, bs, "whycache_agent_snapshot_fetched_bytes_total")
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := bs.Bootstrap(t.Context(), store, dir, cachefile.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	fetched := plainCounter(t, bs, "whycache_agent_snapshot_fetched_bytes_total") - firstFetched
	resumed := plainCounter(t, bs, "whycache_agent_snapshot_resumed_bytes_total")
	t.Logf("second run: fetched %.0f bytes, kept %.0f, of %d", fetched, resumed, m.Size)
	if resumed == 0 || fetched >= float64(m.Size) || fetched+resumed != float64(m.Size) {
		t.Errorf("after the server came back: fetched %.0f bytes and kept %.0f of a %d-byte snapshot; want only the missing parts fetched", fetched, resumed, m.Size)
	}
	if err := equalMaps(readFile(t, p), replay(t, store)); err != nil {
		t.Fatalf("resumed snapshot vs replay: %v", err)
	}
	os.Remove(p)
	if left := downloads(dir); len(left) != 0 {
		t.Errorf("downloads left after the bootstrap: %v", left)
	}
}

// plainCounter reads an unlabelled counter from c's metrics.
func plainCounter(t *testing.T, c prometheus.Collector, name string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}

// Child process mode: runs an agent with a slow download until killed.
const childEnv = "WHYCACHE_SNAPSHOT_TEST_CHILD"

func childMain() bool {
	spec := os.Getenv(childEnv)
	if spec == "" {
		return false
	}
	parts := strings.Split(spec, "\n") // dir, store URL, snapshot URL
	ctx := context.Background()
	cfg := testserver.S3Config{AccessKey: os.Getenv(testserver.EnvS3AccessKey), SecretKey: os.Getenv(testserver.EnvS3SecretKey)}
	opts := s3Options(cfg)
	opts.HTTPClient = slowClient()
	layout, err := snapshot.Open(ctx, parts[2], opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	bs, err := nodeagent.NewSnapshotBootstrapper(nodeagent.SnapshotConfig{Layout: layout,
		Download: snapshot.DownloadOptions{PartSize: 1 << 20, Concurrency: 2}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	a, err := nodeagent.New(nodeagent.Config{Dir: parts[0], NodeName: "child", Bootstrap: bs,
		OpenStore: func(ctx context.Context, o logstore.Options) (logstore.Store, error) {
			return openBackend(ctx, parts[1], o)
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = a.Run(ctx)
	os.Exit(0)
	return true
}

// TestAgentKilledMidDownload: an agent is killed (SIGKILL) halfway through
// downloading a snapshot, having installed nothing. The next agent on the
// same directory resumes the download (it fetches less than the snapshot,
// by its metrics), bootstraps cleanly and ends equal to a replay.
func TestAgentKilledMidDownload(t *testing.T) {
	cfg := testserver.S3(t)
	logDir := filepath.Join(t.TempDir(), "log")
	store := openStore(t, logDir)
	head := bigLog(t, store)
	layout, snapURL := s3Layout(t)
	snap(t, store, layout)
	m, err := layout.Latest(t.Context(), store.ID())
	if err != nil {
		t.Fatal(err)
	}
	agentCfg, _ := agentConfig(t, logDir, "n", layout)
	if err := os.MkdirAll(agentCfg.Dir, 0o755); err != nil {
		t.Fatal(err)
	}

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), childEnv+"="+agentCfg.Dir+"\n"+logDir+"\n"+snapURL,
		testserver.EnvS3AccessKey+"="+cfg.AccessKey, testserver.EnvS3SecretKey+"="+cfg.SecretKey)
	child.Stderr = os.Stderr
	child.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a part of the child's download to complete", func() bool { return progressRecorded(agentCfg.Dir) })
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	if inf, err := cachefile.Inspect(filepath.Join(agentCfg.Dir, "cache.whycache")); err == nil && inf.UpdateID != 0 {
		t.Fatalf("the killed agent's cache file holds update %d: something was installed", inf.UpdateID)
	}

	a := agenttest.Start(t, agentCfg)
	a.WaitApplied(t, head)
	fetched := metric(t, a, "whycache_agent_snapshot_fetched_bytes_total")
	resumed := metric(t, a, "whycache_agent_snapshot_resumed_bytes_total")
	t.Logf("restarted agent: fetched %s bytes, kept %s, of %d", fetched, resumed, m.Size)
	f, _ := strconv.ParseFloat(fetched, 64)
	if r, _ := strconv.ParseFloat(resumed, 64); r == 0 || f == 0 || f >= float64(m.Size) {
		t.Errorf("the restarted agent fetched %s bytes and kept %s of a %d-byte snapshot: it did not resume", fetched, resumed, m.Size)
	}
	if left := downloads(agentCfg.Dir); len(left) != 0 {
		t.Fatalf("partial downloads left after the restart: %v", left)
	}
	a.Stop(t)
	if err := equalMaps(readFile(t, a.CachePath()), replay(t, store)); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
}
