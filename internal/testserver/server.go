package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrNotInstalled is returned when a server's binaries cannot be found.
// `make test-deps` (hack/install-test-deps.sh) installs them.
var ErrNotInstalled = errors.New("server binaries not installed (run `make test-deps`)")

// Server is a running test server.
type Server struct {
	// Kind names the server: "mariadb", "postgres", "redis" or "s3".
	Kind string
	// DSN is the connection string for the server's Go driver: a
	// go-sql-driver/mysql DSN, a pgx URL, a Redis URL, or an S3 endpoint
	// URL.
	DSN string
	// Addr is the server's TCP address, host:port.
	Addr string
	// Socket is the server's Unix socket path, when it has one.
	Socket string
	// Dir holds the server's data and logs.
	Dir string

	cmd      *exec.Cmd
	stopSig  syscall.Signal
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	ownsDir  bool
	start    func(context.Context) error // starts the process again (Restart)
}

// Restart stops the server's process, keeping its data, calls down while
// it is stopped, and starts it again on the same address: a test of a
// client that must survive its server going away. Only servers that set
// it up (S3) can.
func (s *Server) Restart(ctx context.Context, down func()) error {
	if s.start == nil {
		return fmt.Errorf("restart %s: not supported", s.Kind)
	}
	_ = s.cmd.Process.Signal(s.stopSig)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	if down != nil {
		down()
	}
	return s.start(ctx)
}

// Stop shuts the server down, waits for it to exit, and removes its
// directory when Start created it.
func (s *Server) Stop() error {
	var err error
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(s.stopSig)
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
			err = fmt.Errorf("stop %s: killed after 30s", s.Kind)
		}
		if s.ownsDir {
			if rmErr := os.RemoveAll(s.Dir); rmErr != nil && err == nil {
				err = fmt.Errorf("stop %s: %w", s.Kind, rmErr)
			}
		}
	})
	return err
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lookBin finds the first of the candidates that exists, as a path or on PATH.
func lookBin(candidates ...string) (string, error) {
	for _, c := range candidates {
		if filepath.IsAbs(c) {
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%v: %w", candidates, ErrNotInstalled)
}

// makeDir creates a fresh directory for a server under base (or the system
// temporary directory when base is empty), world-traversable so that a server
// running as another user can reach it.
func makeDir(base, kind string) (string, bool, error) {
	dir, err := os.MkdirTemp(base, "whycache-"+kind+"-")
	if err != nil {
		return "", false, fmt.Errorf("create %s directory: %w", kind, err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("chmod %s directory: %w", kind, err)
	}
	return dir, true, nil
}

// run runs a short setup command and returns its combined output in the error.
func run(ctx context.Context, cred *syscall.Credential, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", filepath.Base(name), err, out.Bytes())
	}
	return nil
}

// startDaemon starts a long-running server process whose output goes to
// logPath. The process is killed if this process dies.
func startDaemon(s *Server, cred *syscall.Credential, logPath, name string, args ...string) error {
	return startDaemonCmd(s, cred, nil, logPath, name, args...)
}

// startDaemonEnv is startDaemon with the given environment (secrets go
// there rather than on the command line).
func startDaemonEnv(s *Server, env []string, logPath, name string, args ...string) error {
	return startDaemonCmd(s, nil, env, logPath, name, args...)
}

func startDaemonCmd(s *Server, cred *syscall.Credential, env []string, logPath, name string, args ...string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", s.Kind, err)
	}
	defer logf.Close()
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr, cmd.Env = logf, logf, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true, Credential: cred}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.Kind, err)
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return nil
}

// waitReady polls ready until it succeeds, the server exits, or ctx ends.
func waitReady(ctx context.Context, s *Server, logPath string, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		if last = ready(ctx); last == nil {
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s exited during start-up (%v): %s", s.Kind, s.waitErr, tail(log, 2000))
		case <-ctx.Done():
			_ = s.Stop()
			return fmt.Errorf("%s not ready: %w (last error: %v)", s.Kind, ctx.Err(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// dialReady reports whether a TCP connection to addr succeeds.
func dialReady(addr string) func(context.Context) error {
	return func(ctx context.Context) error {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
