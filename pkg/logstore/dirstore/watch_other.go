//go:build !linux

package dirstore

import "github.com/go-logr/logr"

// newWatcher returns a watcher that asks waiters to poll: only Linux has
// inotify.
func newWatcher(log logr.Logger, path string, n *notifier) watcher { return pollWatcher{} }
