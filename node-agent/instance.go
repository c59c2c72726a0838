package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/whycache/whycache/pkg/cachefile"
)

// instanceLockName is the agent's own lock, in the instance directory's
// private subdirectory: taken before the agent binds any port, so that a
// second agent for the same directory fails by saying who holds it, not
// with a port already in use.
const instanceLockName = "agent.lock"

// lockInstance takes the agent's lock on its instance directory, writing
// its pid and node name into it. The lock lives as long as the process
// keeps the returned file open.
func lockInstance(dir, node string) (*os.File, error) {
	priv := filepath.Join(dir, cachefile.PrivateDirName)
	if err := os.MkdirAll(priv, 0o700); err != nil {
		return nil, fmt.Errorf("create private directory: %w", err)
	}
	if err := os.Chmod(priv, 0o700); err != nil {
		return nil, fmt.Errorf("make private directory 0700: %w", err)
	}
	path := filepath.Join(priv, instanceLockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open agent lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder := readHolder(f)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another agent serves %s (held by %s): %w", dir, holder, cachefile.ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	id := "pid " + strconv.Itoa(os.Getpid()) + ", node " + node + "\n"
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(id), 0)
	}
	return f, nil
}

// readHolder returns what the holder of a lock wrote into it.
func readHolder(f *os.File) string {
	b := make([]byte, 256)
	n, _ := f.ReadAt(b, 0)
	s := strings.TrimSpace(string(b[:n]))
	if s == "" {
		return "an unknown process"
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
