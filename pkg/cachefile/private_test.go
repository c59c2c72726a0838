package cachefile

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLockIsPrivate checks where the writer keeps its lock: in a 0700
// directory, holding its pid and owner, which a second writer's error names.
func TestLockIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.whycache")
	w, err := OpenWriter(t.Context(), path, testLogID, Options{NoSync: true, LockOwner: "node a"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	fi, err := os.Stat(privateDir(path))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("private directory: %v, %v; want mode 0700", fi, err)
	}
	if _, err := os.Stat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a lock file beside the cache file: %v", err)
	}
	_, err = OpenWriter(t.Context(), path, testLogID, Options{NoSync: true})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())+", node a") {
		t.Fatalf("second writer: %v; want ErrLocked naming pid %d and node a", err, os.Getpid())
	}
}

// TestPrivateDirTightened brings a private directory that someone opened
// up back to 0700.
func TestPrivateDirTightened(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cache.whycache")
	if err := os.Mkdir(privateDir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(privateDir(path), 0o777); err != nil {
		t.Fatal(err)
	}
	w, err := OpenWriter(t.Context(), path, testLogID, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if fi, err := os.Stat(privateDir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("private directory: %v, %v; want mode 0700", fi, err)
	}
}

// TestReaderCannotTakeTheLock is the attack itself: another user, who can
// read the directory (as a pod that mounts it can), tries to flock every
// lock file in it, read-only. It runs as root only (to switch to nobody).
func TestReaderCannotTakeTheLock(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run a command as another user")
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		t.Skip("no runuser")
	}
	flock, err := exec.LookPath("flock")
	if err != nil {
		t.Skip("no flock")
	}
	dir, err := os.MkdirTemp("", "whycache-lock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil { // readable by all, as a hostPath
		t.Fatal(err)
	}
	path := filepath.Join(dir, "cache.whycache")
	w, err := OpenWriter(t.Context(), path, testLogID, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	locks := 0
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(p, ".lock") {
			return err
		}
		locks++
		out, err := exec.Command(runuser, "-u", "nobody", "--", flock, "--nonblock", "--shared", p, "true").CombinedOutput()
		if err == nil {
			t.Errorf("user nobody took a lock on %s", p)
		} else {
			t.Logf("user nobody on %s: %v: %s", p, err, out)
		}
		return nil
	})
	if err != nil || locks == 0 {
		t.Fatalf("walk: %v, %d lock files", err, locks)
	}
	// The writer still opens the file.
	w, err = OpenWriter(t.Context(), path, testLogID, Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}
