package storetest

import (
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
)

// Opener opens a handle to a log. Called twice with the same opts.Name in the
// same namespace, it opens the same log, as a second process would: the two
// handles share nothing but the log itself.
type Opener func(t testing.TB, opts logstore.Options) (logstore.Store, error)

// Harness describes a backend to the suite.
type Harness struct {
	// Name names the backend in sub-test names and messages: "dir",
	// "mysql", "postgres".
	Name string

	// NewNamespace returns an Opener for a fresh, empty namespace (a
	// directory, a database or a schema) that belongs to one test. It
	// registers its own cleanup with t.
	NewNamespace func(t testing.TB) Opener

	// InAppend, when set, installs f on a store that the suite opened, so
	// that the store calls f inside each append transaction: after it has
	// allocated ids and before it commits. The ordering tests pass random
	// tiny sleeps, to widen the window in which a late commit could hide
	// an id from a tailer.
	InAppend func(s logstore.Store, f func())

	// Check, when set, is called on a namespace at the end of the larger
	// tests (ordering, rewrite), after the test's handles are closed, to
	// run the backend's own invariant checks (file checksums, table
	// constraints). Those tests name their log "log".
	Check func(t testing.TB, open Opener)
}

// Run runs the whole conformance suite against h, each part as a sub-test.
func Run(t *testing.T, h Harness) {
	if h.NewNamespace == nil {
		t.Fatal("storetest: Harness.NewNamespace is nil")
	}
	t.Run("Basics", func(t *testing.T) { RunBasics(t, h) })
	t.Run("Ordering", func(t *testing.T) { RunOrdering(t, h) })
	t.Run("Rewrite", func(t *testing.T) { RunRewrite(t, h) })
}

// open opens a log through o and registers its Close with t.
func open(t testing.TB, o Opener, opts logstore.Options) logstore.Store {
	t.Helper()
	s, err := o(t, opts)
	if err != nil {
		t.Fatalf("open log %q: %v", opts.Name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// create opens a log through o, creating it, and registers its Close with t.
func create(t testing.TB, o Opener, name string) logstore.Store {
	t.Helper()
	return open(t, o, logstore.Options{Name: name, Create: true})
}

// check runs the harness's invariant checks, when it has any.
func (h Harness) check(t testing.TB, o Opener) {
	t.Helper()
	if h.Check != nil {
		h.Check(t, o)
	}
}
