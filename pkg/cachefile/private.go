package cachefile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PrivateDirName is the subdirectory, beside a cache file, that holds its
// writer's lock file and the temporary files of new generations. The
// writer keeps it at mode 0700: a reader who can open the file's directory
// cannot flock the lock (flock works on a read-only descriptor, so a lock
// beside the file would let any reader stop the writer from starting) nor
// open a generation that is still being written.
const PrivateDirName = ".private"

// privateDir returns the private directory of the cache file at path.
func privateDir(path string) string {
	return filepath.Join(filepath.Dir(path), PrivateDirName)
}

// lockPath returns the path of the writer's lock of the file at path.
func lockPath(path string) string {
	return filepath.Join(privateDir(path), filepath.Base(path)+".lock")
}

// privateTemp returns the stem of the temporary files of new generations
// of the file at path (tempName adds a random suffix).
func privateTemp(path string) string {
	return filepath.Join(privateDir(path), filepath.Base(path))
}

// makePrivateDir creates the private directory of the file at path, or
// brings an existing one back to mode 0700.
func makePrivateDir(path string) error {
	dir := privateDir(path)
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("create private directory: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("private directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("private directory %s is not a directory: %w", dir, ErrInvalid)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("make private directory %s 0700: %w", dir, err)
		}
	}
	return nil
}

// takeLock takes the writer's lock of the file at path and writes who
// holds it (this process's pid and owner, Options.LockOwner) into the lock
// file; when another writer holds it, the error says who.
func takeLock(path, owner string) (*os.File, error) {
	if err := makePrivateDir(path); err != nil {
		return nil, err
	}
	lp := lockPath(path)
	f, err := lockFile(lp)
	if errors.Is(err, ErrLocked) {
		if holder := lockHolder(lp); holder != "" {
			return nil, fmt.Errorf("%s: %w (held by %s)", path, ErrLocked, holder)
		}
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, err
	}
	id := "pid " + strconv.Itoa(os.Getpid())
	if owner != "" {
		id += ", " + owner
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(id+"\n"), 0)
	}
	return f, nil
}

// maxHolder bounds what is read of a lock file.
const maxHolder = 256

// lockHolder returns who holds a lock, as its holder wrote it, or "".
func lockHolder(lp string) string {
	f, err := os.Open(lp)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, maxHolder)
	n, _ := f.Read(b)
	s := strings.TrimSpace(string(b[:n]))
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
}
