package dirstore

import (
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/storetest"
)

// harness runs the conformance suite on stores with the given options.
func harness(options ...Option) storetest.Harness {
	return storetest.Harness{
		Name: "dir",
		NewNamespace: func(t testing.TB) storetest.Opener {
			dir := t.TempDir()
			return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
				s, err := Open(t.Context(), dir, opts, options...)
				if err != nil {
					return nil, err // not a typed nil in the interface
				}
				return s, nil
			}
		},
		InAppend: func(s logstore.Store, f func()) { s.(*Store).sh.hook.Store(&f) },
		Check:    func(t testing.TB, open storetest.Opener) { checkNamespace(t, open) },
	}
}

// TestConformance runs the conformance suite with small segments, so that
// rolls and multi-segment rewrites happen often.
func TestConformance(t *testing.T) {
	storetest.Run(t, harness(WithSegmentSize(64<<10)))
}
