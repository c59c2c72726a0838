package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/whycache/whycache"
	"github.com/whycache/whycache/internal/testserver"
	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/cachefile"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// whycacheBin is the `whycache` binary, built once by TestMain.
var whycacheBin string

func TestMain(m *testing.M) {
	if os.Getenv(readerChildEnv) != "" {
		readerChild()
		return
	}
	dir, err := os.MkdirTemp("", "whycache-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	whycacheBin = filepath.Join(dir, "whycache")
	build := exec.Command("go", "build", "-o", whycacheBin, "github.com/whycache/whycache/cmd/whycache")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build whycache: %v\n", err)
		os.Exit(1)
	}
	defer os.RemoveAll(dir)
	testserver.Main(m)
}

// backend is a log store the tests run against.
type backend struct {
	name string
	// url returns the URL of a fresh, empty store for one test.
	url func(t *testing.T) string
}

var allBackends = []backend{
	{"dir", func(t *testing.T) string { return filepath.Join(t.TempDir(), "log") }},
	{"mariadb", func(t *testing.T) string { return "mysql:" + testserver.MySQLDatabase(t) }},
	{"postgres", func(t *testing.T) string { return testserver.PostgresDatabase(t) }},
}

// forEachBackend runs f as a subtest per backend.
func forEachBackend(t *testing.T, f func(t *testing.T, url string)) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) { f(t, b.url(t)) })
	}
}

// openStore opens (creating) the log at url for the test.
func openStore(t *testing.T, url string) logstore.Store {
	t.Helper()
	s, err := backends.Open(t.Context(), url, logstore.Options{Create: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// agentConfig configures an in-process agent for node name over url.
func agentConfig(t *testing.T, dir, url, name string) nodeagent.Config {
	return nodeagent.Config{
		Dir:       dir,
		NodeName:  name,
		CreateLog: true,
		OpenStore: func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
			return backends.Open(ctx, url, opts)
		},
		HeartbeatInterval: 100 * time.Millisecond,
		RetryInterval:     10 * time.Millisecond,
		Cache:             cachefile.Options{NoSync: true},
		Logger:            testr.NewWithOptions(t, testr.Options{Verbosity: 0}),
	}
}

// agentProc is a `whycache agent` process acting as one node.
type agentProc struct {
	name, dir, url string
	cmd            *exec.Cmd
	done           chan error
	log            *os.File
}

// startProc starts an agent process for node name.
func startProc(t *testing.T, dir, url, name string) *agentProc {
	t.Helper()
	return startProcArgs(t, dir, url, name)
}

// startProcArgs starts an agent process for node name with extra flags.
func startProcArgs(t *testing.T, dir, url, name string, extra ...string) *agentProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(dir), name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := &agentProc{name: name, dir: dir, url: url, log: logf}
	p.cmd = exec.Command(whycacheBin, "agent", "--dir", dir, "--node-name", name, "--create-log",
		"--health-addr", "", "--heartbeat-interval", "200ms")
	p.cmd.Args = append(p.cmd.Args, extra...)
	p.cmd.Env = append(os.Environ(), "WHYCACHE_STORE="+url) // the password stays off the command line
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.done = make(chan error, 1)
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	waitFor(t, 60*time.Second, func() error {
		select {
		case err := <-p.done:
			p.done <- err
			return fmt.Errorf("agent %s exited: %v; log:\n%s", name, err, p.logTail())
		default:
		}
		if _, err := os.Stat(filepath.Join(dir, agentapi.SocketName)); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(dir, agentapi.CacheFileName))
		return err
	})
	return p
}

// kill kills the agent with SIGKILL.
func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
}

// stop stops the agent with SIGTERM and checks it exits with status 0.
func (p *agentProc) stop(t *testing.T) {
	select {
	case err := <-p.done:
		p.done <- err
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- nil
		if err != nil {
			t.Errorf("agent %s exited with %v after SIGTERM; log:\n%s", p.name, err, p.logTail())
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("agent %s did not stop within 30s of SIGTERM", p.name)
	}
	p.log.Close()
}

func (p *agentProc) logTail() string {
	b, _ := os.ReadFile(p.log.Name())
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// run runs the whycache CLI and returns its standard output.
func run(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(whycacheBin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("whycache %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// waitFor polls f until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// openClient opens a client on an instance directory, waiting for its file.
func openClient(t *testing.T, dir string, opts ...whycache.Option) *whycache.Client {
	t.Helper()
	// The client's own 30 s bound on a write is not what these tests check:
	// a 16 MiB value decoded under the race detector on a loaded machine
	// can take longer. The test's deadline bounds them instead.
	opts = append([]whycache.Option{whycache.WithWriteTimeout(10 * time.Minute)}, opts...)
	var c *whycache.Client
	waitFor(t, 30*time.Second, func() error {
		var err error
		c, err = whycache.Open(dir, opts...)
		return err
	})
	t.Cleanup(func() { c.Close() })
	return c
}

// fileState returns the contents of a node's cache file.
func fileState(t *testing.T, dir string) map[string]string {
	t.Helper()
	r, err := cachefile.Open(filepath.Join(dir, agentapi.CacheFileName))
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
