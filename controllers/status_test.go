package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/logstore"
)

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ds := func(desired, updated, ready int32) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		d.Generation = 2
		d.Status = appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated, NumberReady: ready}
		return d
	}
	store := storeReading{At: now.Add(-time.Second), LogID: "log", Latest: 1000, Horizon: 10, Nodes: []logstore.NodeProgress{
		{Node: "a", AppliedID: 1000, Heartbeat: now.Add(-5 * time.Second)},
		{Node: "b", AppliedID: 990, Heartbeat: now.Add(-5 * time.Second)},
	}}
	base := func() statusInput {
		return statusInput{Now: now, Generation: 3, DaemonSet: ds(2, 2, 2), Store: store, MaxLagIDs: 100, NodeGoneAfter: time.Hour}
	}
	type want struct {
		ready, degraded        metav1.ConditionStatus
		readyReason, degReason string
	}
	for _, tc := range []struct {
		name   string
		mutate func(*statusInput)
		want   want
		check  func(*testing.T, whycachev1.WhycacheInstanceStatus)
	}{
		{"all well", func(*statusInput) {}, want{metav1.ConditionTrue, metav1.ConditionFalse, whycachev1.ReasonReady, whycachev1.ReasonAsExpected},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.LatestUpdateID == 1000 && st.Horizon == 10 && st.LogID == "log", "log = %d/%d/%s", st.LatestUpdateID, st.Horizon, st.LogID)
				mustf(t, st.Nodes.Summary == "2/2" && st.Nodes.Reporting == 2 && st.Nodes.Lagging == 0, "nodes = %+v", st.Nodes)
				mustf(t, st.Nodes.SlowestNode == "b" && st.Nodes.SlowestAppliedID == 990, "slowest = %s@%d", st.Nodes.SlowestNode, st.Nodes.SlowestAppliedID)
				mustf(t, st.ObservedGeneration == 3, "observedGeneration = %d", st.ObservedGeneration)
			}},
		{"store not read yet", func(in *statusInput) { in.Store = storeReading{} }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonNotChecked, whycachev1.ReasonAsExpected}, nil},
		{"store unreachable keeps the last figures", func(in *statusInput) {
			in.Store = storeReading{At: now, Err: errors.New("dial tcp: refused")}
			in.Old.LatestUpdateID = 77
		}, want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonStoreUnreachable, whycachev1.ReasonStoreUnreachable},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.LatestUpdateID == 77, "latestUpdateID = %d, want the last known 77", st.LatestUpdateID)
			}},
		{"secret missing", func(in *statusInput) { in.Store = storeReading{At: now, Err: errSecret} },
			want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonSecretNotFound, whycachev1.ReasonSecretNotFound}, nil},
		{"no daemonset yet", func(in *statusInput) { in.DaemonSet = nil }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonNodesNotReady, whycachev1.ReasonAsExpected}, nil},
		{"no nodes", func(in *statusInput) { in.DaemonSet = ds(0, 0, 0) }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonNoNodes, whycachev1.ReasonAsExpected}, nil},
		{"rolling", func(in *statusInput) { in.DaemonSet = ds(3, 1, 3) }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonRollingUpdate, whycachev1.ReasonAsExpected}, nil},
		{"daemonset not observed", func(in *statusInput) { in.DaemonSet.Status = appsv1.DaemonSetStatus{} }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonNodesNotReady, whycachev1.ReasonAsExpected}, nil},
		{"template not observed", func(in *statusInput) { in.DaemonSet.Status.ObservedGeneration = 1 }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonRollingUpdate, whycachev1.ReasonAsExpected}, nil},
		{"a node not ready", func(in *statusInput) { in.DaemonSet = ds(3, 3, 2) }, want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonNodesNotReady, whycachev1.ReasonAsExpected},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.Nodes.Summary == "2/3", "summary = %q", st.Nodes.Summary)
			}},
		{"lagging and gone nodes", func(in *statusInput) {
			in.Store.Nodes = append(in.Store.Nodes,
				logstore.NodeProgress{Node: "c", AppliedID: 500, Heartbeat: now.Add(-time.Minute)},
				logstore.NodeProgress{Node: "d", AppliedID: 1, Heartbeat: now.Add(-2 * time.Hour)})
		}, want{metav1.ConditionTrue, metav1.ConditionTrue, whycachev1.ReasonReady, whycachev1.ReasonNodesLagging},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.Nodes.Reporting == 3 && st.Nodes.Lagging == 1 && st.Nodes.Gone == 1, "nodes = %+v", st.Nodes)
				mustf(t, st.Nodes.SlowestNode == "c" && st.Nodes.SlowestAppliedID == 500, "slowest = %s@%d (a gone node must not count)", st.Nodes.SlowestNode, st.Nodes.SlowestAppliedID)
			}},
		{"invalid spec", func(in *statusInput) { in.SpecErr = errors.New("spec.snapshots.schedule: bad") },
			want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonInvalidSpec, whycachev1.ReasonInvalidSpec}, nil},
		{"snapshots: none yet", func(in *statusInput) { in.SnapshotsEnabled = true }, want{metav1.ConditionTrue, metav1.ConditionFalse, whycachev1.ReasonReady, whycachev1.ReasonAsExpected},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, meta.FindStatusCondition(st.Conditions, whycachev1.ConditionSnapshotsHealthy).Reason == whycachev1.ReasonNoSnapshotYet, "SnapshotsHealthy reason")
			}},
		{"snapshots: newest failed", func(in *statusInput) {
			in.SnapshotsEnabled = true
			in.Snapshot.NewestFailed = true
			in.LastSnapshotFailure = &whycachev1.JobFailure{JobName: "x-snapshot-1", Message: "BackoffLimitExceeded"}
		}, want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonSnapshotFailed, whycachev1.ReasonSnapshotFailed},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.LastSnapshotFailure.JobName == "x-snapshot-1", "lastSnapshotFailure = %+v", st.LastSnapshotFailure)
			}},
		{"snapshots: missed", func(in *statusInput) {
			in.SnapshotsEnabled = true
			in.Snapshot.Decision.Missed = 2
		}, want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonScheduleMissed, whycachev1.ReasonScheduleMissed},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.MissedSnapshots == 2, "missedSnapshots = %d", st.MissedSnapshots)
			}},
		{"relay available", func(in *statusInput) { in.Relay = relayObserved{Wanted: true, Deployment: relayDeployment(2, 1)} },
			want{metav1.ConditionTrue, metav1.ConditionFalse, whycachev1.ReasonReady, whycachev1.ReasonAsExpected}, nil},
		{"no relay available", func(in *statusInput) { in.Relay = relayObserved{Wanted: true, Deployment: relayDeployment(2, 0)} },
			want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonRelaysUnavailable, whycachev1.ReasonAsExpected},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				r := meta.FindStatusCondition(st.Conditions, whycachev1.ConditionReady)
				mustf(t, strings.Contains(r.Message, "0 of 2 relays"), "Ready message %q", r.Message)
			}},
		{"relay not created yet", func(in *statusInput) { in.Relay = relayObserved{Wanted: true} },
			want{metav1.ConditionFalse, metav1.ConditionFalse, whycachev1.ReasonRelayNotCreated, whycachev1.ReasonAsExpected}, nil},
		{"relay TLS Secret unusable", func(in *statusInput) {
			in.Relay = relayObserved{Wanted: true, Deployment: relayDeployment(2, 2), TLSProblem: errors.New("secret x has no tls.crt")}
		}, want{metav1.ConditionFalse, metav1.ConditionTrue, whycachev1.ReasonRelayTLSInvalid, whycachev1.ReasonRelayTLSInvalid}, nil},
		{"rewrite failed degrades but leaves Ready", func(in *statusInput) { in.Rewrite.NewestFailed = true },
			want{metav1.ConditionTrue, metav1.ConditionTrue, whycachev1.ReasonReady, whycachev1.ReasonRewriteFailed}, nil},
		{"next runs and results", func(in *statusInput) {
			in.Snapshot.Decision.Next = now.Add(time.Hour)
			in.Rewrite.LastScheduled = now.Add(-time.Minute)
			in.Old.LastSnapshot = &whycachev1.SnapshotRun{JobName: "old"}
			in.LastRewrite = &whycachev1.RewriteRun{JobName: "new", RowsRemoved: 5}
		}, want{metav1.ConditionTrue, metav1.ConditionFalse, whycachev1.ReasonReady, whycachev1.ReasonAsExpected},
			func(t *testing.T, st whycachev1.WhycacheInstanceStatus) {
				mustf(t, st.NextSnapshotTime.Time.Equal(now.Add(time.Hour)) && st.NextRewriteTime == nil, "next = %v/%v", st.NextSnapshotTime, st.NextRewriteTime)
				mustf(t, st.LastRewriteScheduleTime.Time.Equal(now.Add(-time.Minute)), "lastRewriteScheduleTime = %v", st.LastRewriteScheduleTime)
				mustf(t, st.LastSnapshot.JobName == "old" && st.LastRewrite.RowsRemoved == 5, "results = %+v/%+v", st.LastSnapshot, st.LastRewrite)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.mutate(&in)
			st := computeStatus(in)
			for _, c := range []struct {
				typ    string
				status metav1.ConditionStatus
				reason string
			}{{whycachev1.ConditionReady, tc.want.ready, tc.want.readyReason}, {whycachev1.ConditionDegraded, tc.want.degraded, tc.want.degReason}} {
				got := meta.FindStatusCondition(st.Conditions, c.typ)
				if got == nil || got.Status != c.status || got.Reason != c.reason {
					t.Errorf("%s = %+v, want %s/%s", c.typ, got, c.status, c.reason)
				}
			}
			if want := 5 + btoi(in.Relay.Wanted); len(st.Conditions) != want {
				t.Errorf("%d conditions, want %d", len(st.Conditions), want)
			}
			if tc.check != nil {
				tc.check(t, st)
			}
		})
	}
}

func TestComputeStatusStable(t *testing.T) {
	// Computing again from the status just computed, later, changes
	// nothing: the status is written only when something changed.
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	in := statusInput{Now: now, Generation: 1, Store: storeReading{At: now, Latest: 5}, NodeGoneAfter: time.Hour}
	first := computeStatus(in)
	in.Old, in.Now = first, now.Add(time.Minute)
	second := computeStatus(in)
	for i := range first.Conditions {
		if !first.Conditions[i].LastTransitionTime.Equal(&second.Conditions[i].LastTransitionTime) {
			t.Errorf("condition %s moved its transition time without a change", first.Conditions[i].Type)
		}
	}
}

// relayDeployment is a relay Deployment of want replicas, available of
// them available.
func relayDeployment(want, available int32) *appsv1.Deployment {
	d := &appsv1.Deployment{}
	d.Spec.Replicas = &want
	d.Status.AvailableReplicas = available
	return d
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
