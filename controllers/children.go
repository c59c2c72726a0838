package controllers

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// Image is the image of an instance's agents, Jobs and wait-ready init
// containers: the instance's own, else the operator's default.
func Image(inst *whycachev1.WhycacheInstance, defaultImage string) string {
	if inst.Spec.Agent.Image != "" {
		return inst.Spec.Agent.Image
	}
	return defaultImage
}

// apply server-side-applies obj, owned by inst: the operator owns exactly
// the fields it sets, and a change to any of them is put back.
func (r *Reconciler) apply(ctx context.Context, inst *whycachev1.WhycacheInstance, obj client.Object) error {
	if err := controllerutil.SetControllerReference(inst, obj, r.Client.Scheme()); err != nil {
		return fmt.Errorf("set owner of %T: %w", obj, err)
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return fmt.Errorf("convert %T: %w", obj, err)
	}
	// Fields that a typed object always serialises but the operator does
	// not mean to own.
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	ac := client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u})
	if err := r.Client.Apply(ctx, ac, client.FieldOwner(managerName), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
	}
	return nil
}

// applyAgent applies the ServiceAccount, the relay tier (see
// reconcileRelay) and the DaemonSet, and returns the DaemonSet as the
// cache has it (nil right after its creation) and what it saw of the
// relays.
func (r *Reconciler) applyAgent(ctx context.Context, inst *whycachev1.WhycacheInstance) (*appsv1.DaemonSet, relayObserved, error) {
	if err := r.apply(ctx, inst, desiredServiceAccount(inst)); err != nil {
		return nil, relayObserved{}, err
	}
	current, err := r.getDaemonSet(ctx, inst)
	if err != nil {
		return nil, relayObserved{}, err
	}
	plan, relays, err := r.reconcileRelay(ctx, inst, current)
	if err != nil {
		return nil, relays, err
	}
	ds := desiredDaemonSet(inst, Image(inst, r.AgentImage))
	if plan.PointAgents {
		pointAgentsAtRelay(ds, inst)
	}
	if err := r.apply(ctx, inst, ds); err != nil {
		return nil, relays, err
	}
	if plan.Remove {
		if err := r.removeRelay(ctx, inst); err != nil {
			return nil, relays, err
		}
	}
	ds, err = r.getDaemonSet(ctx, inst)
	return ds, relays, err
}

// getDaemonSet returns the instance's agent DaemonSet as the cache has it,
// or nil.
func (r *Reconciler) getDaemonSet(ctx context.Context, inst *whycachev1.WhycacheInstance) (*appsv1.DaemonSet, error) {
	var ds appsv1.DaemonSet
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: agentName(inst)}, &ds); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get DaemonSet: %w", err)
	}
	return &ds, nil
}

// listJobs lists the Jobs the instance controls.
func (r *Reconciler) listJobs(ctx context.Context, inst *whycachev1.WhycacheInstance) ([]batchv1.Job, error) {
	var list batchv1.JobList
	if err := r.Client.List(ctx, &list, client.InNamespace(inst.Namespace),
		client.MatchingLabels{labelInstance: inst.Name, labelManagedBy: managerName}); err != nil {
		return nil, fmt.Errorf("list Jobs: %w", err)
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if metav1.IsControlledBy(&j, inst) {
			out = append(out, j)
		}
	}
	return out, nil
}

// statusScheduleTime is the status's record of the newest run created.
func statusScheduleTime(inst *whycachev1.WhycacheInstance, kind jobKind) *metav1.Time {
	if kind == kindSnapshot {
		return inst.Status.LastSnapshotScheduleTime
	}
	return inst.Status.LastRewriteScheduleTime
}

// runSchedule decides whether a Job of the kind is due, creates it, and
// deletes the finished Jobs beyond the history limits.
func (r *Reconciler) runSchedule(ctx context.Context, inst *whycachev1.WhycacheInstance, kind jobKind,
	sched cron.Schedule, jobs []batchv1.Job, now time.Time) (kindStatus, error) {
	k := classifyJobs(jobs, kind)
	p := jobPolicy(inst, kind)
	ks := kindStatus{LastScheduled: k.LastScheduled}
	if t := statusScheduleTime(inst, kind); t != nil && t.After(ks.LastScheduled) {
		ks.LastScheduled = t.Time
	}
	last := ks.LastScheduled
	if last.IsZero() {
		last = inst.CreationTimestamp.Time
	}
	if f := k.newestFinished(); f != nil {
		_, ok := jobFinished(f)
		ks.NewestFailed = !ok
	}
	ks.Decision = decideSchedule(scheduleInput{
		Schedule: sched, Suspend: p.Suspend, Last: last, Now: now,
		Deadline: time.Duration(p.StartingDeadlineSeconds) * time.Second, Active: len(k.Active) > 0,
	})
	if due := ks.Decision.Due; !due.IsZero() && !ks.Decision.Blocked {
		if err := r.createJob(ctx, inst, kind, due); err != nil {
			return ks, err
		}
		ks.LastScheduled = due
	}
	for _, j := range expiredJobs(k, p) {
		if err := r.Client.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return ks, fmt.Errorf("delete old Job %s: %w", j.Name, err)
		}
	}
	return ks, nil
}

// createJob creates the Job for one scheduled run; a Job of that name
// already there is that run, created before.
func (r *Reconciler) createJob(ctx context.Context, inst *whycachev1.WhycacheInstance, kind jobKind, due time.Time) error {
	j := desiredJob(inst, kind, due, Image(inst, r.AgentImage))
	if err := controllerutil.SetControllerReference(inst, j, r.Client.Scheme()); err != nil {
		return fmt.Errorf("set owner of Job: %w", err)
	}
	if err := r.Client.Create(ctx, j); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return fmt.Errorf("create Job %s: %w", j.Name, err)
	}
	r.Recorder.Eventf(inst, j, corev1.EventTypeNormal, startedReason(kind), "CreateJob",
		"created Job %s for the run scheduled at %s", j.Name, due.UTC().Format(time.RFC3339))
	return nil
}

func startedReason(kind jobKind) string {
	if kind == kindSnapshot {
		return "SnapshotStarted"
	}
	return "RewriteStarted"
}

// readResults fills in the results of the newest succeeded and failed Jobs
// of each kind that the status does not record yet.
func (r *Reconciler) readResults(ctx context.Context, inst *whycachev1.WhycacheInstance, jobs []batchv1.Job, in *statusInput) error {
	snaps, rewrites := classifyJobs(jobs, kindSnapshot), classifyJobs(jobs, kindRewrite)
	if j := newest(snaps.Succeeded); j != nil && (inst.Status.LastSnapshot == nil || inst.Status.LastSnapshot.JobName != j.Name) {
		res, err := r.jobResult(ctx, j)
		if err != nil {
			return err
		}
		in.LastSnapshot = snapshotRun(j, res)
	}
	if j := newest(rewrites.Succeeded); j != nil && (inst.Status.LastRewrite == nil || inst.Status.LastRewrite.JobName != j.Name) {
		res, err := r.jobResult(ctx, j)
		if err != nil {
			return err
		}
		in.LastRewrite = rewriteRun(j, res)
	}
	if j := newest(snaps.Failed); j != nil && (inst.Status.LastSnapshotFailure == nil || inst.Status.LastSnapshotFailure.JobName != j.Name) {
		in.LastSnapshotFailure = jobFailure(j)
	}
	if j := newest(rewrites.Failed); j != nil && (inst.Status.LastRewriteFailure == nil || inst.Status.LastRewriteFailure.JobName != j.Name) {
		in.LastRewriteFailure = jobFailure(j)
	}
	return nil
}

func newest(jobs []*batchv1.Job) *batchv1.Job {
	if len(jobs) == 0 {
		return nil
	}
	return jobs[len(jobs)-1]
}

// jobFailure is the status's record of a failed Job.
func jobFailure(j *batchv1.Job) *whycachev1.JobFailure {
	f := &whycachev1.JobFailure{JobName: j.Name, Time: metaTime(finishedAt(j))}
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			f.Message = c.Reason + ": " + c.Message
		}
	}
	return f
}

// jobResult reads the result line of a succeeded Job from its pods'
// termination messages; a Job whose result cannot be read yields nil (the
// status then records the Job and its time only).
func (r *Reconciler) jobResult(ctx context.Context, j *batchv1.Job) (any, error) {
	var pods corev1.PodList
	if err := r.APIReader.List(ctx, &pods, client.InNamespace(j.Namespace),
		client.MatchingLabels{batchv1.JobNameLabel: j.Name}); err != nil {
		return nil, fmt.Errorf("list pods of Job %s: %w", j.Name, err)
	}
	res, err := terminationResult(pods.Items)
	if err != nil {
		r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, "NoResult", "ReadResult", "no result line in the pods' termination messages: %v", err)
		return nil, nil
	}
	return res, nil
}
