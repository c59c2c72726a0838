package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proc is a process the test started, in a process group of its own, with
// its output in a log file. The parent-death signal kills it when the test
// binary dies, so a killed test leaves nothing behind.
type proc struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // valid once done is closed
}

// procSpec says how to start a proc.
type procSpec struct {
	name    string   // for messages
	path    string   // the binary
	args    []string // its arguments
	env     []string // the whole environment (nil: the test's)
	dir     string   // working directory ("" : the test's)
	logPath string   // stdout and stderr go here (appended)
}

// startProc starts a process. The caller stops it with stop.
func startProc(s procSpec) (*proc, error) {
	if err := os.MkdirAll(filepath.Dir(s.logPath), 0o755); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	defer logf.Close()
	cmd := exec.Command(s.path, s.args...)
	cmd.Env, cmd.Dir = s.env, s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.name, err)
	}
	p := &proc{name: s.name, logPath: s.logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has ended, and how.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// exitCode is the process's exit status once it has ended (-1 when a
// signal ended it).
func (p *proc) exitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

// errKilled says that a process did not stop within its grace period.
var errKilled = errors.New("did not stop within its grace period after SIGTERM: killed")

// stop sends SIGTERM to the process group, waits up to grace, then kills
// the group (errKilled). Otherwise it returns the process's exit error
// (nil for status 0).
func (p *proc) stop(grace time.Duration) error {
	if done, err := p.exited(); done {
		return err
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("%s: %w (%s)", p.name, errKilled, grace)
	}
	return p.err
}

// logTail is the end of the process's log, for failure messages.
func (p *proc) logTail(n int) string { return fileTail(p.logPath, n) }

func fileTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(read %s: %v)", path, err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fatalf(t, "find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls f every interval until it returns nil, failing the test
// with f's last error when the timeout passes first.
func waitFor(t testing.TB, what string, timeout time.Duration, f func() error) {
	t.Helper()
	if err := poll(t.Context(), timeout, f); err != nil {
		fatalf(t, "waiting for %s: %v", what, err)
	}
}

// poll calls f until it returns nil, ctx ends or timeout passes.
func poll(ctx context.Context, timeout time.Duration, f func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := f()
		if err == nil {
			return nil
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// fatalError ends a poll at once: waiting longer cannot help.
type fatalError struct{ error }

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, client *http.Client, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// runCmd runs a short command and returns its standard output; the error
// holds its standard error.
func runCmd(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}
