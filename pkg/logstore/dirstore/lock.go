package dirstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// flock is an advisory lock on a file (flock(2)): it excludes other open
// file descriptions, in this process or another, and the kernel releases it
// when its holder dies.
type flock struct{ f *os.File }

// openFlock opens (creating) the lock file at path.
func openFlock(path string) (flock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return flock{}, fmt.Errorf("open lock file: %w", err)
	}
	return flock{f: f}, nil
}

// lock takes the lock, waiting as long as it takes.
func (l flock) lock() error {
	for {
		err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("lock %s: %w", l.f.Name(), err)
		}
	}
}

// tryLock takes the lock if it is free and reports whether it did.
func (l flock) tryLock() (bool, error) {
	err := unix.Flock(int(l.f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EWOULDBLOCK), errors.Is(err, unix.EINTR):
		return false, nil
	}
	return false, fmt.Errorf("lock %s: %w", l.f.Name(), err)
}

// lockCtx takes the lock, polling, until ctx ends.
func (l flock) lockCtx(ctx context.Context) error {
	delay := time.Millisecond
	for {
		ok, err := l.tryLock()
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: %w", l.f.Name(), ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// unlock releases the lock.
func (l flock) unlock() error {
	if err := unix.Flock(int(l.f.Fd()), unix.LOCK_UN); err != nil {
		return fmt.Errorf("unlock %s: %w", l.f.Name(), err)
	}
	return nil
}

// close closes the lock file, which releases the lock.
func (l flock) close() error { return l.f.Close() }
