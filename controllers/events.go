package controllers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// statusEvents emits an event for each change between two statuses that a
// person would want to see: a run's result, a failure, a missed run, the
// store becoming unreachable, an invalid spec, a relay TLS Secret that
// the agents could not use.
func (r *Reconciler) statusEvents(inst *whycachev1.WhycacheInstance, old, cur whycachev1.WhycacheInstanceStatus) {
	if s := cur.LastSnapshot; s != nil && (old.LastSnapshot == nil || old.LastSnapshot.JobName != s.JobName) {
		r.Recorder.Eventf(inst, nil, corev1.EventTypeNormal, "SnapshotCompleted", "Snapshot",
			"Job %s: snapshot of update %d in %s (%d bytes)", s.JobName, s.UpdateID, s.Object, s.SizeBytes)
	}
	if w := cur.LastRewrite; w != nil && (old.LastRewrite == nil || old.LastRewrite.JobName != w.JobName) {
		r.Recorder.Eventf(inst, nil, corev1.EventTypeNormal, "RewriteCompleted", "Rewrite",
			"Job %s: removed %d rows through update %d (delete limit %d)", w.JobName, w.RowsRemoved, w.Through, w.DeleteLimit)
	}
	if f := cur.LastSnapshotFailure; f != nil && (old.LastSnapshotFailure == nil || old.LastSnapshotFailure.JobName != f.JobName) {
		r.Recorder.Eventf(inst, nil, corev1.EventTypeWarning, "SnapshotFailed", "Snapshot", "Job %s failed: %s", f.JobName, f.Message)
	}
	if f := cur.LastRewriteFailure; f != nil && (old.LastRewriteFailure == nil || old.LastRewriteFailure.JobName != f.JobName) {
		r.Recorder.Eventf(inst, nil, corev1.EventTypeWarning, "RewriteFailed", "Rewrite", "Job %s failed: %s", f.JobName, f.Message)
	}
	if cur.MissedSnapshots > old.MissedSnapshots || cur.MissedRewrites > old.MissedRewrites {
		r.Recorder.Eventf(inst, nil, corev1.EventTypeWarning, "ScheduleMissed", "Schedule",
			"runs that could not start within the starting deadline: %d snapshots, %d rewrites", cur.MissedSnapshots, cur.MissedRewrites)
	}
	// only, when set, is the one reason of the condition that makes an
	// event.
	for _, t := range []struct{ typ, reason, only string }{
		{whycachev1.ConditionLogStoreReachable, "LogStoreUnreachable", ""},
		{whycachev1.ConditionReady, whycachev1.ReasonInvalidSpec, whycachev1.ReasonInvalidSpec},
		{whycachev1.ConditionRelayAvailable, whycachev1.ReasonRelayTLSInvalid, whycachev1.ReasonRelayTLSInvalid},
	} {
		c := meta.FindStatusCondition(cur.Conditions, t.typ)
		if c == nil || c.Status != metav1.ConditionFalse || (t.only != "" && c.Reason != t.only) {
			continue
		}
		if o := meta.FindStatusCondition(old.Conditions, t.typ); o != nil && o.Status == c.Status && o.Reason == c.Reason && o.Message == c.Message {
			continue
		}
		r.Recorder.Eventf(inst, nil, corev1.EventTypeWarning, t.reason, "Reconcile", "%s", c.Message)
	}
}
