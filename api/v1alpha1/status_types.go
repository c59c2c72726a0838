package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WhycacheInstanceStatus is what the operator last observed of an instance.
type WhycacheInstanceStatus struct {
	// observedGeneration is the spec generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions are the instance's conditions; see the Condition*
	// constants for their types and reasons.
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// logID is the identity of the log (a UUID).
	// +optional
	LogID string `json:"logID,omitempty"`

	// latestUpdateID is the highest update id in the log.
	// +optional
	LatestUpdateID int64 `json:"latestUpdateID,omitempty"`

	// horizon is the log's horizon: a node whose file is older must
	// bootstrap from a snapshot.
	// +optional
	Horizon int64 `json:"horizon,omitempty"`

	// logStoreCheckTime is when the log store was last read successfully.
	// +optional
	LogStoreCheckTime *metav1.Time `json:"logStoreCheckTime,omitempty"`

	// nodes summarises the node agents.
	// +optional
	Nodes NodesStatus `json:"nodes,omitempty"`

	// lastSnapshot is the newest successful snapshot run.
	// +optional
	LastSnapshot *SnapshotRun `json:"lastSnapshot,omitempty"`

	// lastRewrite is the newest successful history rewrite.
	// +optional
	LastRewrite *RewriteRun `json:"lastRewrite,omitempty"`

	// lastSnapshotFailure is the newest failed snapshot Job.
	// +optional
	LastSnapshotFailure *JobFailure `json:"lastSnapshotFailure,omitempty"`

	// lastRewriteFailure is the newest failed history rewrite Job.
	// +optional
	LastRewriteFailure *JobFailure `json:"lastRewriteFailure,omitempty"`

	// lastSnapshotScheduleTime is the scheduled time of the newest snapshot
	// Job the operator created.
	// +optional
	LastSnapshotScheduleTime *metav1.Time `json:"lastSnapshotScheduleTime,omitempty"`

	// lastRewriteScheduleTime is the scheduled time of the newest rewrite
	// Job the operator created.
	// +optional
	LastRewriteScheduleTime *metav1.Time `json:"lastRewriteScheduleTime,omitempty"`

	// nextSnapshotTime is when the next snapshot is scheduled (absent while
	// suspended or without snapshots).
	// +optional
	NextSnapshotTime *metav1.Time `json:"nextSnapshotTime,omitempty"`

	// nextRewriteTime is when the next history rewrite is scheduled (absent
	// while suspended).
	// +optional
	NextRewriteTime *metav1.Time `json:"nextRewriteTime,omitempty"`

	// missedSnapshots counts the snapshot runs scheduled since the last one
	// that started which can no longer start: older than
	// startingDeadlineSeconds, or superseded by a later run.
	// +optional
	MissedSnapshots int32 `json:"missedSnapshots,omitempty"`

	// missedRewrites counts the missed rewrite runs the same way.
	// +optional
	MissedRewrites int32 `json:"missedRewrites,omitempty"`
}

// NodesStatus summarises the node agents.
type NodesStatus struct {
	// desired is the number of nodes that should run an agent.
	// +optional
	Desired int32 `json:"desired,omitempty"`
	// ready is the number of agents that are ready (caught up).
	// +optional
	Ready int32 `json:"ready,omitempty"`
	// updated is the number of agents that run the current pod template.
	// +optional
	Updated int32 `json:"updated,omitempty"`
	// summary is "ready/desired", for the printer column.
	// +optional
	Summary string `json:"summary,omitempty"`
	// reporting is the number of nodes whose heartbeat in the log store is
	// younger than historyRewrite.nodeGoneAfter.
	// +optional
	Reporting int32 `json:"reporting,omitempty"`
	// lagging is the number of reporting nodes more than agent.maxLagIDs
	// updates behind the log.
	// +optional
	Lagging int32 `json:"lagging,omitempty"`
	// gone is the number of nodes whose last heartbeat is older than
	// historyRewrite.nodeGoneAfter.
	// +optional
	Gone int32 `json:"gone,omitempty"`
	// slowestNode is the reporting node with the lowest applied id.
	// +optional
	SlowestNode string `json:"slowestNode,omitempty"`
	// slowestAppliedID is that node's applied id.
	// +optional
	SlowestAppliedID int64 `json:"slowestAppliedID,omitempty"`
}

// SnapshotRun is what a snapshot Job did.
type SnapshotRun struct {
	// jobName is the Job that took the snapshot.
	JobName string `json:"jobName"`
	// updateID is the last update the snapshot holds.
	// +optional
	UpdateID int64 `json:"updateID,omitempty"`
	// object is the snapshot's key in the bucket.
	// +optional
	Object string `json:"object,omitempty"`
	// sizeBytes is the object's size.
	// +optional
	SizeBytes int64 `json:"sizeBytes,omitempty"`
	// skipped is true when the newest snapshot was already current.
	// +optional
	Skipped bool `json:"skipped,omitempty"`
	// time is when the snapshot was taken.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// RewriteRun is what a history rewrite Job did.
type RewriteRun struct {
	// jobName is the Job that ran the rewrite.
	JobName string `json:"jobName"`
	// through is the limit up to which overwritten operations were removed.
	// +optional
	Through int64 `json:"through,omitempty"`
	// deleteLimit is the limit up to which delete markers were removed.
	// +optional
	DeleteLimit int64 `json:"deleteLimit,omitempty"`
	// rowsRemoved counts the key operations removed.
	// +optional
	RowsRemoved int64 `json:"rowsRemoved,omitempty"`
	// reason says what bounded the limits.
	// +optional
	Reason string `json:"reason,omitempty"`
	// time is when the rewrite finished.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
}

// JobFailure is a scheduled Job that failed.
type JobFailure struct {
	// jobName is the Job.
	JobName string `json:"jobName"`
	// time is when it failed.
	// +optional
	Time *metav1.Time `json:"time,omitempty"`
	// message is the Job's failure reason and message.
	// +optional
	Message string `json:"message,omitempty"`
}
