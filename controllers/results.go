package controllers

import (
	"errors"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

// terminationResult finds the result line in the termination messages of
// a Job's pods (the newest pod first) and decodes it.
func terminationResult(pods []corev1.Pod) (any, error) {
	var errs []error
	for i := len(pods) - 1; i >= 0; i-- {
		for _, cs := range pods[i].Status.ContainerStatuses {
			term := cs.State.Terminated
			if term == nil || term.Message == "" {
				continue
			}
			v, err := agentapi.ParseResult(term.Message)
			if err == nil {
				return v, nil
			}
			errs = append(errs, fmt.Errorf("pod %s: %w", pods[i].Name, err))
		}
	}
	if len(errs) == 0 {
		return nil, agentapi.ErrNoResult
	}
	return nil, errors.Join(errs...)
}

// finishedAt is when a Job finished, or its creation time.
func finishedAt(j *batchv1.Job) time.Time {
	if j.Status.CompletionTime != nil {
		return j.Status.CompletionTime.Time
	}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed || c.Type == batchv1.JobComplete {
			return c.LastTransitionTime.Time
		}
	}
	return j.CreationTimestamp.Time
}

// snapshotRun is the status's record of a succeeded snapshot Job and its
// result (nil when the result could not be read).
func snapshotRun(j *batchv1.Job, res any) *whycachev1.SnapshotRun {
	run := &whycachev1.SnapshotRun{JobName: j.Name, Time: metaTime(finishedAt(j))}
	if r, ok := res.(*agentapi.SnapshotResult); ok {
		run.UpdateID = int64(r.UpdateID)
		run.Object = r.Key
		run.SizeBytes = r.Bytes
		run.Skipped = r.Skipped
		if !r.Time.IsZero() {
			run.Time = metaTime(r.Time)
		}
	}
	return run
}

// rewriteRun is the status's record of a succeeded rewrite Job.
func rewriteRun(j *batchv1.Job, res any) *whycachev1.RewriteRun {
	run := &whycachev1.RewriteRun{JobName: j.Name, Time: metaTime(finishedAt(j))}
	if r, ok := res.(*agentapi.RewriteResult); ok {
		run.Through = int64(r.Through)
		run.DeleteLimit = int64(r.DeleteLimit)
		run.RowsRemoved = r.Removed
		run.Reason = r.Reason
		if !r.Time.IsZero() {
			run.Time = metaTime(r.Time)
		}
	}
	return run
}

// metaTime is t as the API stores it (whole seconds, UTC), so that a
// status read back compares equal to the one computed.
func metaTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}
