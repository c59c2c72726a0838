package snapshot_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/whycache/whycache/internal/agenttest"
)

// TestRoundTrip: a snapshot of each kind of log goes up to S3, a new node
// bootstraps from it (no replay), tails the log written since, and ends
// equal to a full replay, while a writer keeps appending during its start
// (so no update may be lost or applied twice across the switch from the
// snapshot to the tail).
func TestRoundTrip(t *testing.T) {
	for _, b := range allBackends {
		t.Run(b.name, func(t *testing.T) {
			url := b.url(t)
			store := openStore(t, url)
			layout, _ := s3Layout(t)
			write(t, store, 0, 300)
			snapID := snap(t, store, layout)
			write(t, store, 300, 50)

			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 350; !stop.Load(); i += 5 {
					write(t, store, i, 5)
				}
			})
			cfg, _ := agentConfig(t, url, "joiner", layout)
			a := agenttest.Start(t, cfg)
			stop.Store(true)
			wg.Wait()
			head, err := store.Latest(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			a.WaitApplied(t, head)
			if v := metric(t, a, "whycache_agent_bootstrap_snapshot_age_seconds"); v == "" {
				t.Errorf("no snapshot age recorded for the bootstrap from snapshot %d", snapID)
			}
			if v := metric(t, a, `whycache_agent_bootstrap_source_total{source="snapshot"}`); v != "1" {
				t.Errorf("bootstraps from a snapshot = %q, want 1", v)
			}
			if v := metric(t, a, `whycache_agent_bootstrap_source_total{source="replay"}`); v != "" {
				t.Errorf("replays = %q, want none", v)
			}
			a.Stop(t)
			if err := equalMaps(readFile(t, a.CachePath()), replay(t, store)); err != nil {
				t.Fatalf("after bootstrap and tail, against a replay: %v", err)
			}
		})
	}
}
