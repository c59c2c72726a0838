package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// defaultStaleAfter is how old a heartbeat may be before `log nodes` calls
// the node stale: a few of the agent's default heartbeat intervals (10 s).
const defaultStaleAfter = time.Minute

// nodeRow is one line of `log nodes`.
type nodeRow struct {
	node    string
	applied uint64
	lag     uint64        // updates in the log the node has not applied
	age     time.Duration // since the node's last heartbeat
	stale   bool          // no heartbeat for longer than staleAfter
	beat    time.Time
}

// nodeRows computes what `log nodes` shows of each node: its lag behind the
// log's latest id, the age of its heartbeat and whether it is stale.
func nodeRows(nodes []logstore.NodeProgress, latest uint64, now time.Time, staleAfter time.Duration) []nodeRow {
	rows := make([]nodeRow, len(nodes))
	for i, n := range nodes {
		age := max(now.Sub(n.Heartbeat), 0)
		rows[i] = nodeRow{
			node: n.Node, applied: n.AppliedID, lag: latest - min(n.AppliedID, latest),
			age: age, stale: age > staleAfter, beat: n.Heartbeat,
		}
	}
	return rows
}

// printNodes prints the rows as a tab-separated table.
func printNodes(w io.Writer, latest uint64, rows []nodeRow) {
	fmt.Fprintf(w, "NODE\tAPPLIED\tLAG\tHEARTBEAT\tAGE\tSTATE\n")
	for _, r := range rows {
		state := "ok"
		if r.stale {
			state = "stale"
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t%s\t%s\n", r.node, r.applied, r.lag,
			r.beat.UTC().Format(time.RFC3339), r.age.Round(time.Second), state)
	}
	fmt.Fprintf(w, "(log latest %d)\n", latest)
}
