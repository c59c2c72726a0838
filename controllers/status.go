package controllers

import (
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// kindStatus is what the status needs to know about one kind of Job.
type kindStatus struct {
	// Decision is the schedule's decision (zero when there is no schedule).
	Decision scheduleDecision
	// LastScheduled is the scheduled time of the newest Job created.
	LastScheduled time.Time
	// NewestFailed is true when the newest finished Job failed.
	NewestFailed bool
}

// statusInput is everything the status is computed from.
type statusInput struct {
	Now        time.Time
	Generation int64
	// Old is the status as last written; its conditions keep their
	// transition times when they do not change.
	Old whycachev1.WhycacheInstanceStatus
	// SpecErr is why the spec cannot be used, or nil.
	SpecErr error
	// DaemonSet is the agent DaemonSet, nil before it exists.
	DaemonSet *appsv1.DaemonSet
	// Store is the last reading of the log store.
	Store storeReading
	// MaxLagIDs and NodeGoneAfter classify the nodes.
	MaxLagIDs     int64
	NodeGoneAfter time.Duration
	// SnapshotsEnabled is true when the spec has snapshots.
	SnapshotsEnabled bool
	// Snapshot and Rewrite describe the Jobs.
	Snapshot, Rewrite kindStatus
	// Relay is what the reconcile saw of the relay tier.
	Relay relayObserved
	// LastSnapshot, LastRewrite and the failures are the newest results
	// (nil keeps the old status's record).
	LastSnapshot                            *whycachev1.SnapshotRun
	LastRewrite                             *whycachev1.RewriteRun
	LastSnapshotFailure, LastRewriteFailure *whycachev1.JobFailure
}

// computeStatus is the instance's status from its inputs.
func computeStatus(in statusInput) whycachev1.WhycacheInstanceStatus {
	st := *in.Old.DeepCopy()
	st.ObservedGeneration = in.Generation
	st.Nodes = nodesStatus(in)
	if !in.Store.At.IsZero() && in.Store.Err == nil {
		st.LogID = in.Store.LogID
		st.LatestUpdateID = int64(in.Store.Latest)
		st.Horizon = int64(in.Store.Horizon)
		st.LogStoreCheckTime = metaTime(in.Store.At)
	}
	keep(&st.LastSnapshot, in.LastSnapshot)
	keep(&st.LastRewrite, in.LastRewrite)
	keep(&st.LastSnapshotFailure, in.LastSnapshotFailure)
	keep(&st.LastRewriteFailure, in.LastRewriteFailure)
	st.LastSnapshotScheduleTime = laterTime(st.LastSnapshotScheduleTime, in.Snapshot.LastScheduled)
	st.LastRewriteScheduleTime = laterTime(st.LastRewriteScheduleTime, in.Rewrite.LastScheduled)
	st.NextSnapshotTime = metaTime(in.Snapshot.Decision.Next)
	st.NextRewriteTime = metaTime(in.Rewrite.Decision.Next)
	st.MissedSnapshots = int32(in.Snapshot.Decision.Missed)
	st.MissedRewrites = int32(in.Rewrite.Decision.Missed)
	setConditions(&st, in)
	return st
}

// keep replaces *dst with v unless v is nil.
func keep[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

// laterTime is the later of old and t.
func laterTime(old *metav1.Time, t time.Time) *metav1.Time {
	if t.IsZero() || (old != nil && !old.Time.Before(t.Truncate(time.Second))) {
		return old
	}
	return metaTime(t)
}

// nodesStatus counts the nodes from the DaemonSet and the store's records.
func nodesStatus(in statusInput) whycachev1.NodesStatus {
	var n whycachev1.NodesStatus
	if ds := in.DaemonSet; ds != nil {
		n.Desired = ds.Status.DesiredNumberScheduled
		n.Ready = ds.Status.NumberReady
		n.Updated = ds.Status.UpdatedNumberScheduled
	}
	n.Summary = fmt.Sprintf("%d/%d", n.Ready, n.Desired)
	if in.Store.At.IsZero() || in.Store.Err != nil {
		return n
	}
	first := true
	for _, p := range in.Store.Nodes {
		if in.Now.Sub(p.Heartbeat) > in.NodeGoneAfter {
			n.Gone++
			continue
		}
		n.Reporting++
		if in.Store.Latest > p.AppliedID && int64(in.Store.Latest-p.AppliedID) > in.MaxLagIDs {
			n.Lagging++
		}
		if first || p.AppliedID < uint64(n.SlowestAppliedID) {
			n.SlowestNode, n.SlowestAppliedID, first = p.Node, int64(p.AppliedID), false
		}
	}
	return n
}

// condition is one condition's new value.
type condition struct {
	status          metav1.ConditionStatus
	reason, message string
}

func setConditions(st *whycachev1.WhycacheInstanceStatus, in statusInput) {
	store := storeCondition(in.Store)
	nodes := nodesCondition(in.DaemonSet)
	snaps := snapshotsCondition(in)
	relay, relayWanted := relayCondition(in.Relay)
	degraded := degradedCondition(in, st, store, relay)
	ready := condition{metav1.ConditionTrue, whycachev1.ReasonReady, "the agents are ready and the log store is reachable"}
	switch {
	case in.SpecErr != nil:
		ready = condition{metav1.ConditionFalse, whycachev1.ReasonInvalidSpec, in.SpecErr.Error()}
	case store.status != metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, store.reason, store.message}
	case nodes.status != metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, nodes.reason, nodes.message}
	case snaps.status != metav1.ConditionTrue:
		ready = condition{metav1.ConditionFalse, snaps.reason, snaps.message}
	case relayWanted && relay.status != metav1.ConditionTrue:
		// The agents read the log through the relays: with none
		// available no write reaches them, however ready they are.
		ready = condition{metav1.ConditionFalse, relay.reason, relay.message}
	}
	for _, tc := range []struct {
		typ string
		c   condition
	}{
		{whycachev1.ConditionReady, ready},
		{whycachev1.ConditionLogStoreReachable, store},
		{whycachev1.ConditionNodesReady, nodes},
		{whycachev1.ConditionSnapshotsHealthy, snaps},
		{whycachev1.ConditionDegraded, degraded},
	} {
		setCondition(st, in, tc.typ, tc.c)
	}
	if relayWanted {
		setCondition(st, in, whycachev1.ConditionRelayAvailable, relay)
	} else {
		meta.RemoveStatusCondition(&st.Conditions, whycachev1.ConditionRelayAvailable)
	}
}

// setCondition sets a condition; its transition time stays when its status
// does not change.
func setCondition(st *whycachev1.WhycacheInstanceStatus, in statusInput, typ string, c condition) {
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: c.status, Reason: c.reason, Message: c.message,
		ObservedGeneration: in.Generation, LastTransitionTime: *metaTime(in.Now),
	})
}

func storeCondition(r storeReading) condition {
	switch {
	case r.At.IsZero():
		return condition{metav1.ConditionUnknown, whycachev1.ReasonNotChecked, "the log store has not been read yet"}
	case errors.Is(r.Err, errSecret):
		return condition{metav1.ConditionFalse, whycachev1.ReasonSecretNotFound, r.Err.Error()}
	case r.Err != nil:
		return condition{metav1.ConditionFalse, whycachev1.ReasonStoreUnreachable, r.Err.Error()}
	}
	return condition{metav1.ConditionTrue, whycachev1.ReasonReachable,
		fmt.Sprintf("log %s: latest update %d, horizon %d, %d nodes recorded", r.LogID, r.Latest, r.Horizon, len(r.Nodes))}
}

func nodesCondition(ds *appsv1.DaemonSet) condition {
	if ds == nil {
		return condition{metav1.ConditionFalse, whycachev1.ReasonNodesNotReady, "the agent DaemonSet does not exist yet"}
	}
	s := ds.Status
	switch {
	case s.ObservedGeneration == 0:
		return condition{metav1.ConditionFalse, whycachev1.ReasonNodesNotReady, "the DaemonSet controller has not seen the DaemonSet yet"}
	case s.ObservedGeneration < ds.Generation:
		return condition{metav1.ConditionFalse, whycachev1.ReasonRollingUpdate, "the DaemonSet controller has not seen the new pod template yet"}
	case s.DesiredNumberScheduled == 0:
		return condition{metav1.ConditionFalse, whycachev1.ReasonNoNodes, "no node matches the agent's node selector and tolerations"}
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return condition{metav1.ConditionFalse, whycachev1.ReasonRollingUpdate,
			fmt.Sprintf("%d of %d nodes run the current agent", s.UpdatedNumberScheduled, s.DesiredNumberScheduled)}
	case s.NumberReady < s.DesiredNumberScheduled:
		return condition{metav1.ConditionFalse, whycachev1.ReasonNodesNotReady,
			fmt.Sprintf("%d of %d agents are ready", s.NumberReady, s.DesiredNumberScheduled)}
	}
	return condition{metav1.ConditionTrue, whycachev1.ReasonAllNodesReady, fmt.Sprintf("%d of %d agents are ready", s.NumberReady, s.DesiredNumberScheduled)}
}

func snapshotsCondition(in statusInput) condition {
	switch {
	case !in.SnapshotsEnabled:
		return condition{metav1.ConditionTrue, whycachev1.ReasonSnapshotsDisabled, "the spec has no snapshots"}
	case in.Snapshot.NewestFailed:
		msg := "the newest snapshot Job failed"
		if f := in.LastSnapshotFailure; f != nil {
			msg = fmt.Sprintf("snapshot Job %s failed: %s", f.JobName, f.Message)
		}
		return condition{metav1.ConditionFalse, whycachev1.ReasonSnapshotFailed, msg}
	case in.Snapshot.Decision.Missed > 0:
		return condition{metav1.ConditionFalse, whycachev1.ReasonScheduleMissed,
			fmt.Sprintf("%d scheduled snapshots could not start within the starting deadline", in.Snapshot.Decision.Missed)}
	case in.LastSnapshot == nil && in.Old.LastSnapshot == nil:
		return condition{metav1.ConditionTrue, whycachev1.ReasonNoSnapshotYet, "no snapshot has been taken yet"}
	}
	return condition{metav1.ConditionTrue, whycachev1.ReasonSnapshotSucceeded, "the newest snapshot Job succeeded"}
}

func degradedCondition(in statusInput, st *whycachev1.WhycacheInstanceStatus, store, relay condition) condition {
	var reasons, msgs []string
	add := func(reason, msg string) { reasons, msgs = append(reasons, reason), append(msgs, msg) }
	if in.SpecErr != nil {
		add(whycachev1.ReasonInvalidSpec, in.SpecErr.Error())
	}
	if store.status == metav1.ConditionFalse {
		add(store.reason, store.message)
	}
	if in.SnapshotsEnabled && in.Snapshot.NewestFailed {
		add(whycachev1.ReasonSnapshotFailed, "the newest snapshot Job failed")
	}
	if relay.reason == whycachev1.ReasonRelayTLSInvalid {
		// Unlike relays still starting, a Secret that does not fit
		// needs a person.
		add(relay.reason, relay.message)
	}
	if in.Rewrite.NewestFailed {
		add(whycachev1.ReasonRewriteFailed, "the newest history rewrite Job failed")
	}
	if in.Snapshot.Decision.Missed > 0 || in.Rewrite.Decision.Missed > 0 {
		add(whycachev1.ReasonScheduleMissed, fmt.Sprintf("missed runs: %d snapshots, %d rewrites", in.Snapshot.Decision.Missed, in.Rewrite.Decision.Missed))
	}
	if st.Nodes.Lagging > 0 {
		add(whycachev1.ReasonNodesLagging, fmt.Sprintf("%d nodes are more than %d updates behind; slowest %s at %d",
			st.Nodes.Lagging, in.MaxLagIDs, st.Nodes.SlowestNode, st.Nodes.SlowestAppliedID))
	}
	if len(reasons) == 0 {
		return condition{metav1.ConditionFalse, whycachev1.ReasonAsExpected, "nothing needs attention"}
	}
	return condition{metav1.ConditionTrue, reasons[0], strings.Join(msgs, "; ")}
}
