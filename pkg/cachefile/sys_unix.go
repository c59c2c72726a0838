//go:build unix

package cachefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// parseUUID parses the canonical textual form of a UUID.
func parseUUID(s string) ([16]byte, error) {
	var id [16]byte
	n := 0
	for i := 0; i < len(s) && s[i] != '\n'; i++ {
		c := s[i]
		if c == '-' {
			continue
		}
		v, ok := hexVal(c)
		if !ok || n >= 32 {
			return id, fmt.Errorf("boot id %q is not a UUID: %w", s, ErrInvalid)
		}
		id[n/2] |= v << (4 * (1 - n%2))
		n++
	}
	if n != 32 {
		return id, fmt.Errorf("boot id %q is not a UUID: %w", s, ErrInvalid)
	}
	return id, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lockFile takes an exclusive, non-blocking flock on path, creating it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return f, nil
}

// msync writes b, a part of a shared mapping, to its file and waits.
func msync(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if err := unix.Msync(b, unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, making renames and links in it durable.
func syncDir(dir string) error {
	if err := fail(fpSyncDir); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// diskUsage returns the bytes of disk allocated to the file at path.
func diskUsage(f *os.File) int64 {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0
	}
	return st.Blocks * 512
}

// tempName returns a fresh temporary name beside path.
func tempName(path string) string {
	var b [8]byte
	_, _ = randRead(b[:])
	return fmt.Sprintf("%s.tmp-%x", path, b)
}

// removeTemps removes temporary files that a crashed writer left beside path.
func removeTemps(path string) error {
	names, err := filepath.Glob(globEscape(path) + ".tmp-*")
	if err != nil {
		return fmt.Errorf("list temporary files: %w", err)
	}
	for _, n := range names {
		if err := os.Remove(n); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale temporary file: %w", err)
		}
	}
	return nil
}

// globEscape escapes the glob metacharacters in s.
func globEscape(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', '\\':
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
