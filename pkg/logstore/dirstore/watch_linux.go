package dirstore

import (
	"errors"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"golang.org/x/sys/unix"
)

// inotifyWatcher watches the head file with inotify: every append rewrites
// the head, which raises IN_MODIFY in every process that watches it.
type inotifyWatcher struct {
	f *os.File
}

// newWatcher watches path with inotify, or returns a watcher that asks
// waiters to poll when inotify is not available.
func newWatcher(log logr.Logger, path string, n *notifier) watcher {
	w, err := watchInotify(path, n)
	if err != nil {
		log.Info("Cannot watch the log with inotify; Wait polls", "error", err.Error())
		return pollWatcher{}
	}
	return w
}

func watchInotify(path string, n *notifier) (*inotifyWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify_init1: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_ATTRIB); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify_add_watch %s: %w", path, err)
	}
	// A non-blocking descriptor joins the runtime's poller, so that Read
	// parks the goroutine and Close wakes it.
	w := &inotifyWatcher{f: os.NewFile(uintptr(fd), "inotify")}
	go w.run(n)
	return w, nil
}

// run broadcasts after every batch of events until the watcher is closed.
func (w *inotifyWatcher) run(n *notifier) {
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		_, err := w.f.Read(buf)
		if err != nil && !errors.Is(err, unix.EINTR) {
			n.broadcast()
			return
		}
		n.broadcast()
	}
}

func (w *inotifyWatcher) polling() bool { return false }
func (w *inotifyWatcher) close() error  { return w.f.Close() }
