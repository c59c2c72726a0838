// Package storetest is the conformance suite for [logstore.Store]
// implementations. Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			Name: "dir",
//			NewNamespace: func(t testing.TB) storetest.Opener {
//				dir := t.TempDir()
//				return func(t testing.TB, opts logstore.Options) (logstore.Store, error) {
//					return dirstore.Open(t.Context(), dir, opts)
//				}
//			},
//		})
//	}
//
// The suite checks the contract written in package logstore: identity,
// append and paged read, limits, Wait, heartbeats, the ordering guarantee
// under concurrent writers and tailers, and history rewrite against a
// reference model, sequentially and while writers and tailers run.
//
// It also exports the pieces a backend's own tests need: a [State] that
// applies updates, a reference [RewriteModel], [ReadAll] (a full replay,
// through Store.ReadReplay) and [CatchUp] (a node catching up, through
// Read), [OpGen] for random updates and [NewRand] for replayable seeds.
//
// Every store is also checked on a full replay in small pages through a high
// horizon (Store.ReadReplay), and through logstore.All, including a horizon
// that rises while it reads.
//
// The ordering test runs at the full size (16 writers × 10,000
// updates, 3 tailers) unless testing.Short() is set; the environment variable
// WHYCACHE_ORDERING_SCALE (a factor such as 0.1 or 2) scales it explicitly.
package storetest
