package cli

import (
	"bytes"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

func TestNodeRows(t *testing.T) {
	now := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	nodes := []logstore.NodeProgress{
		{Node: "caught-up", AppliedID: 50, Heartbeat: now.Add(-5 * time.Second)},
		{Node: "behind", AppliedID: 20, Heartbeat: now.Add(-30 * time.Second)},
		{Node: "stale", AppliedID: 10, Heartbeat: now.Add(-10 * time.Minute)},
		{Node: "ahead", AppliedID: 60, Heartbeat: now.Add(time.Second)}, // clocks differ; a restored log
	}
	want := []nodeRow{
		{node: "caught-up", applied: 50, lag: 0, age: 5 * time.Second},
		{node: "behind", applied: 20, lag: 30, age: 30 * time.Second},
		{node: "stale", applied: 10, lag: 40, age: 10 * time.Minute, stale: true},
		{node: "ahead", applied: 60, lag: 0, age: 0},
	}
	got := nodeRows(nodes, 50, now, time.Minute)
	for i := range want {
		want[i].beat = nodes[i].Heartbeat
		if got[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	var buf bytes.Buffer
	printNodes(&buf, 50, got[2:3])
	if w := "NODE\tAPPLIED\tLAG\tHEARTBEAT\tAGE\tSTATE\nstale\t10\t40\t2026-11-30T02:50:00Z\t10m0s\tstale\n(log latest 50)\n"; buf.String() != w {
		t.Errorf("printNodes = %q, want %q", buf.String(), w)
	}
}
