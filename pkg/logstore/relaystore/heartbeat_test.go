package relaystore

import (
	"fmt"
	"sync"
	"testing"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/relay"
)

// TestHeartbeatBatches sends the heartbeats of many nodes at once through a
// relay: all are in the store after their calls return, and on the SQL
// stores each batch is one statement.
func TestHeartbeatBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		backing    func(testing.TB) backing
		oneCallPer bool // the store writes a batch in one call
	}{
		{"dir", dirBacking, false},
		{"mysql", mysqlBacking, true},
		{"postgres", pgBacking, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, tc.backing(t), relay.Config{})
			url := relayURL(r)
			const nodes = 200
			handles := make([]*Store, 10)
			for i := range handles {
				handles[i] = openAt(t, url, 0, logstore.Options{Name: "log", Create: true})
			}
			var wg sync.WaitGroup
			errs := make(chan error, nodes)
			for i := range nodes {
				wg.Go(func() {
					errs <- handles[i%len(handles)].Heartbeat(t.Context(), logstore.NodeProgress{Node: fmt.Sprintf("node-%03d", i), AppliedID: uint64(i)})
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			got, err := handles[0].Nodes(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != nodes {
				t.Fatalf("%d nodes in the store, want %d", len(got), nodes)
			}
			for i, p := range got {
				if p.Node != fmt.Sprintf("node-%03d", i) || p.AppliedID != uint64(i) || p.Heartbeat.IsZero() {
					t.Errorf("node %d: %+v", i, p)
				}
			}
			st := r.srv.Stats()
			if st.HeartbeatsWritten != nodes {
				t.Errorf("%d heartbeats written, want %d", st.HeartbeatsWritten, nodes)
			}
			if tc.oneCallPer && st.HeartbeatCalls != st.HeartbeatFlushes {
				t.Errorf("%d store calls for %d batches, want one per batch", st.HeartbeatCalls, st.HeartbeatFlushes)
			}
			t.Logf("%d heartbeats in %d batches, %d store calls", st.HeartbeatsWritten, st.HeartbeatFlushes, st.HeartbeatCalls)
		})
	}
}
