// Package rewritepolicy computes how far a history rewrite of the log may
// go safely. It is one pure function, shared by `whycache rewrite-history
// --safe`, the controller's rewrite Job and the controller's status, so
// that they never disagree.
//
// Removing operations that a later operation of the same key overrides is
// safe at any limit: a node that reads past them ends in the same state.
// Removing a delete marker is not: a node that has not applied it yet
// would never learn that the key is gone. So the delete limit must be at
// or below the applied id of every live node (a node whose heartbeat is
// recent) and at or below the newest snapshot's update id: a node that is
// away comes back behind the raised horizon and must find a snapshot that
// covers everything the rewrite removed. With no snapshot, no delete
// marker is removed.
package rewritepolicy

import (
	"fmt"
	"sort"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
)

// Input is what the decision needs, gathered by the caller.
type Input struct {
	// Now is the current time (by the store's clock, as heartbeats are).
	Now time.Time
	// LiveAge is how recent a heartbeat must be for its node to count as
	// live; nodes with older heartbeats are away and will bootstrap.
	LiveAge time.Duration
	// Head is the log's latest update id.
	Head uint64
	// Horizon is the log's current horizon.
	Horizon uint64
	// Through is the requested limit for overwritten operations; 0 means
	// the head.
	Through uint64
	// Snapshot is the update id of the newest usable snapshot, valid when
	// HasSnapshot is true.
	Snapshot    uint64
	HasSnapshot bool
	// Nodes are the nodes' progress records.
	Nodes []logstore.NodeProgress
}

// Limits is the decision.
type Limits struct {
	// Through is the limit for overwritten operations.
	Through uint64
	// DeleteLimit is the limit for delete markers (0: keep them all).
	DeleteLimit uint64
	// BoundedBy names what set DeleteLimit: "no-snapshot",
	// "snapshot-ahead-of-log", "snapshot", "through" or "node:NAME".
	BoundedBy string
	// Live and Away list the nodes by name.
	Live, Away []string
	// Reason says it in a sentence, for the result line.
	Reason string
}

// Compute returns the safe limits for a rewrite.
func Compute(in Input) Limits {
	l := Limits{Through: in.Head}
	if in.Through != 0 && in.Through < in.Head {
		l.Through = in.Through
	}
	var slowest *logstore.NodeProgress
	for i, n := range in.Nodes {
		if in.Now.Sub(n.Heartbeat) >= in.LiveAge {
			l.Away = append(l.Away, n.Node)
			continue
		}
		l.Live = append(l.Live, n.Node)
		if slowest == nil || n.AppliedID < slowest.AppliedID {
			slowest = &in.Nodes[i]
		}
	}
	sort.Strings(l.Live)
	sort.Strings(l.Away)
	switch {
	case !in.HasSnapshot:
		l.BoundedBy = "no-snapshot"
		l.Reason = "no snapshot covers any delete marker, so none is removed"
		return l
	case in.Snapshot > in.Head:
		l.BoundedBy = "snapshot-ahead-of-log"
		l.Reason = fmt.Sprintf("the newest snapshot (%d) is ahead of the log's head (%d): the log was replaced, so no delete marker is removed", in.Snapshot, in.Head)
		return l
	}
	l.DeleteLimit, l.BoundedBy = in.Snapshot, "snapshot"
	l.Reason = fmt.Sprintf("delete markers up to the newest snapshot (%d)", in.Snapshot)
	if l.Through < l.DeleteLimit {
		l.DeleteLimit, l.BoundedBy = l.Through, "through"
		l.Reason = fmt.Sprintf("delete markers up to the requested limit (%d), below the newest snapshot (%d)", l.Through, in.Snapshot)
	}
	if slowest != nil && slowest.AppliedID < l.DeleteLimit {
		l.DeleteLimit, l.BoundedBy = slowest.AppliedID, "node:"+slowest.Node
		l.Reason = fmt.Sprintf("delete markers up to %d, the applied id of live node %s (newest snapshot %d)", slowest.AppliedID, slowest.Node, in.Snapshot)
	}
	if len(l.Away) > 0 {
		l.Reason += fmt.Sprintf("; %d node(s) away (heartbeat older than %s) will bootstrap from the snapshot", len(l.Away), in.LiveAge)
	}
	return l
}
