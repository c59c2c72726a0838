package dirstore

// watcher turns changes to the head file, by any process, into broadcasts
// on the store's notifier.
type watcher interface {
	// polling reports whether the watcher cannot see changes by itself,
	// so that waiters must poll often.
	polling() bool
	close() error
}

// pollWatcher sees nothing: waiters poll.
type pollWatcher struct{}

func (pollWatcher) polling() bool { return true }
func (pollWatcher) close() error  { return nil }
