package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/whycache/whycache/internal/testserver"
)

// EnvCluster turns the test on: WHYCACHE_E2E_CLUSTER=1.
const EnvCluster = "WHYCACHE_E2E_CLUSTER"

// bins are the whycache binaries, built once by TestMain.
var bins struct {
	whycache, operator string
}

func TestMain(m *testing.M) {
	if os.Getenv(EnvCluster) != "1" {
		// Every test skips itself with the reason; nothing to build.
		testserver.Main(m)
		return
	}
	// The test's clients log nothing of interest; their errors come back.
	ctrllog.SetLogger(logr.Discard())
	dir, err := os.MkdirTemp("", "whycache-cluster-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.whycache = filepath.Join(dir, "whycache")
	bins.operator = filepath.Join(dir, "whycache-operator")
	start := time.Now()
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/whycache/whycache/cmd/whycache", "github.com/whycache/whycache/cmd/whycache-operator")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "build the whycache binaries: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "built whycache and whycache-operator in %s\n", time.Since(start).Round(time.Millisecond))
	defer os.RemoveAll(dir)
	testserver.Main(m, printFailures)
}

// failures are the test's failures, printed once more after every test
// has run: with -v a failure is printed where it happens, and then the
// clean-up's output (processes stopped, logs, the phases) buries it, while
// CI shows only the end of the output.
var failures struct {
	sync.Mutex
	lines []string
}

// recordFailure keeps msg, with the test's name and the place of the call
// that failed, for printFailures.
func recordFailure(t testing.TB, msg string) {
	where := "?"
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		// The place is the first caller that is not a helper that fails.
		name := f.Function[strings.LastIndex(f.Function, ".")+1:]
		if !slices.Contains([]string{"fatal", "fatalf", "errorf", "waitFor", "mustKubectl"}, name) || !more {
			where = fmt.Sprintf("%s:%d", filepath.Base(f.File), f.Line)
			break
		}
	}
	failures.Lock()
	defer failures.Unlock()
	failures.lines = append(failures.lines, fmt.Sprintf("%s: %s: %s", t.Name(), where, msg))
}

// fatal is t.Fatal, recorded for printFailures.
func fatal(t testing.TB, args ...any) {
	t.Helper()
	msg := fmt.Sprint(args...)
	recordFailure(t, msg)
	t.Fatal(msg)
}

// fatalf is t.Fatalf, recorded for printFailures.
func fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	recordFailure(t, msg)
	t.Fatal(msg)
}

// errorf is t.Errorf, recorded for printFailures.
func errorf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	recordFailure(t, msg)
	t.Error(msg)
}

// printFailures prints the recorded failures, each cut to its first
// lines, and the phases of the failed tests.
func printFailures() {
	failures.Lock()
	defer failures.Unlock()
	if len(failures.lines) == 0 {
		return
	}
	fmt.Fprintf(os.Stderr, "\n=== %d failure(s) of the end-to-end test, once more:\n", len(failures.lines))
	for _, l := range failures.lines {
		if ls := strings.Split(l, "\n"); len(ls) > 12 {
			l = strings.Join(ls[:12], "\n") + fmt.Sprintf("\n    … %d more lines where it failed, above", len(ls)-12)
		}
		fmt.Fprintln(os.Stderr, l)
	}
	for _, p := range phaseTables {
		fmt.Fprintln(os.Stderr, p)
	}
}

// requireCluster skips the test unless the cluster tests are turned on.
func requireCluster(t *testing.T) {
	t.Helper()
	if os.Getenv(EnvCluster) != "1" {
		t.Skipf("the end-to-end test on a real control plane runs with %s=1 (make test-e2e)", EnvCluster)
	}
}

// repoRoot is the repository's top folder (tests run in their package's).
func repoRoot(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("../..")
	if err != nil {
		fatal(t, err)
	}
	return d
}

var toolsMu sync.Mutex

// toolDir is the folder of a tool built by hack/tools.sh (built once,
// cached outside the repository).
func toolDir(t testing.TB, name string) string {
	t.Helper()
	toolsMu.Lock()
	defer toolsMu.Unlock()
	out, err := runCmd(t.Context(), nil, "bash", filepath.Join(repoRoot(t), "hack", "tools.sh"), "dir", name)
	if err != nil {
		fatalf(t, "hack/tools.sh dir %s: %v", name, err)
	}
	return strings.TrimSpace(out)
}

// phaseTables are the phases of the failed tests, for printFailures.
var phaseTables []string

// phases records how long each phase of a test took and prints them.
type phases struct {
	t     testing.TB
	name  string
	start time.Time
	done  []string
}

func newPhases(t testing.TB) *phases {
	p := &phases{t: t}
	t.Cleanup(func() {
		p.end()
		table := fmt.Sprintf("phases of %s:\n  %s", t.Name(), strings.Join(p.done, "\n  "))
		t.Log(table)
		if t.Failed() {
			failures.Lock()
			phaseTables = append(phaseTables, table)
			failures.Unlock()
		}
	})
	return p
}

// begin ends the current phase and starts the next.
func (p *phases) begin(name string) {
	p.end()
	p.name, p.start = name, time.Now()
	p.t.Logf("=== phase %s", name)
}

func (p *phases) end() {
	if p.name == "" {
		return
	}
	d := time.Since(p.start).Round(10 * time.Millisecond)
	line := fmt.Sprintf("%-36s %8s", p.name, d)
	if p.t.Failed() {
		line += " (failed)"
	}
	p.done = append(p.done, line)
	p.t.Logf("=== phase %s took %s", p.name, d)
	p.name = ""
}
