package controllers

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// snapshotInstance creates an instance with hourly snapshots to a bucket
// with credentials from a Secret.
func snapshotInstance(t *testing.T, ns, name string) *whycachev1.WhycacheInstance {
	return createInstance(t, ns, name, func(i *whycachev1.WhycacheInstance) {
		i.Spec.Snapshots = &whycachev1.SnapshotSpec{
			Bucket: "snaps", Prefix: "team/flags", Region: "eu-west-1", Endpoint: "http://minio:9000", PathStyle: true,
			CredentialsSecretRef: &corev1.LocalObjectReference{Name: "s3-creds"}, Schedule: "0 * * * *",
			JobPolicy: whycachev1.JobPolicy{StartingDeadlineSeconds: 300},
		}
		i.Spec.HistoryRewrite.Suspend = true
	})
}

func TestScheduledSnapshots(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	inst := snapshotInstance(t, ns, "snap")
	created := inst.CreationTimestamp.Time
	hour := created.Truncate(time.Hour).Add(time.Hour) // the first scheduled time
	r := newTestReconciler(t, created)

	// Before its time: no Job, and the next run in the status.
	res := r.reconcileAt(t, inst, hour.Add(-time.Minute))
	if jobs := jobsOf(t, inst, kindSnapshot); len(jobs) != 0 {
		t.Fatalf("Jobs before the scheduled time: %v", jobNames(jobs))
	}
	inst = getInstance(t, ns, "snap")
	if n := inst.Status.NextSnapshotTime; n == nil || !n.Time.Equal(hour) {
		t.Errorf("nextSnapshotTime = %v, want %s", n, hour)
	}
	if res.RequeueAfter <= 0 || res.RequeueAfter > time.Minute {
		t.Errorf("RequeueAfter = %v, want at most the minute until the run", res.RequeueAfter)
	}

	// At its time: one Job, named after the scheduled time.
	r.reconcileAt(t, inst, hour.Add(10*time.Second))
	jobs := jobsOf(t, inst, kindSnapshot)
	want := jobName(inst, kindSnapshot, hour)
	if !slices.Equal(jobNames(jobs), []string{want}) {
		t.Fatalf("Jobs at the scheduled time = %v, want [%s]", jobNames(jobs), want)
	}
	j := jobs[0]
	mustf(t, metav1.IsControlledBy(&j, inst), "Job not controlled by the instance")
	mustf(t, j.Annotations[annotationScheduledAt] == hour.UTC().Format(time.RFC3339), "scheduled-at = %q", j.Annotations[annotationScheduledAt])
	c := j.Spec.Template.Spec.Containers[0]
	wantCmd := []string{"whycache", "snapshot", "--snapshot-url=s3://snaps/team/flags?endpoint=http%3A%2F%2Fminio%3A9000&path-style=true&region=eu-west-1", "--keep=5"}
	mustf(t, slices.Equal(c.Command, wantCmd), "command = %q, want %q", c.Command, wantCmd)
	env := envByName(c)
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		e := env[k]
		mustf(t, e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == "s3-creds" && e.ValueFrom.SecretKeyRef.Key == k, "%s = %+v", k, e)
	}
	mustf(t, env["WHYCACHE_STORE"].ValueFrom.SecretKeyRef.Name == "snap-store", "WHYCACHE_STORE = %+v", env["WHYCACHE_STORE"])
	mustf(t, c.TerminationMessagePolicy == "FallbackToLogsOnError", "terminationMessagePolicy = %q", c.TerminationMessagePolicy)
	mustf(t, *j.Spec.BackoffLimit == 0 && j.Spec.Template.Spec.RestartPolicy == "Never", "backoffLimit/restartPolicy = %d/%s", *j.Spec.BackoffLimit, j.Spec.Template.Spec.RestartPolicy)
	mustf(t, hasEvent(r.drainEvents(), "SnapshotStarted"), "no SnapshotStarted event")
	// The agents bootstrap from the same snapshots, with the same credentials.
	agent := getDaemonSet(t, inst).Spec.Template.Spec.Containers[0]
	mustf(t, slices.Contains(agent.Args, wantCmd[2]), "agent args %q lack %s", agent.Args, wantCmd[2])
	mustf(t, envByName(agent)["AWS_ACCESS_KEY_ID"].ValueFrom != nil, "the agent has no S3 credentials")

	// Never twice: again at the same time, and again with the status lost
	// (the Job's name and annotation still say the run happened).
	r.reconcileAt(t, getInstance(t, ns, "snap"), hour.Add(20*time.Second))
	inst = getInstance(t, ns, "snap")
	inst.Status = whycachev1.WhycacheInstanceStatus{}
	if err := admin.Status().Update(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, getInstance(t, ns, "snap"), hour.Add(30*time.Second))
	if jobs := jobsOf(t, inst, kindSnapshot); len(jobs) != 1 {
		t.Fatalf("Jobs after three reconciles of one run = %v, want one", jobNames(jobs))
	}

	// Concurrency forbidden: the next run is due while the first still runs.
	next := hour.Add(time.Hour)
	r.reconcileAt(t, getInstance(t, ns, "snap"), next.Add(time.Minute))
	if jobs := jobsOf(t, inst, kindSnapshot); len(jobs) != 1 {
		t.Fatalf("a second Job started while the first runs: %v", jobNames(jobs))
	}
	// The first finishes within the deadline: the waiting run starts.
	first := jobsOf(t, inst, kindSnapshot)[0]
	finishJob(t, &first, true, next.Add(2*time.Minute))
	r.reconcileAt(t, getInstance(t, ns, "snap"), next.Add(3*time.Minute))
	if got := jobNames(jobsOf(t, inst, kindSnapshot)); !slices.Contains(got, jobName(inst, kindSnapshot, next)) {
		t.Fatalf("Jobs = %v, want the waiting run %s once the first finished", got, jobName(inst, kindSnapshot, next))
	}

	// A missed run: the operator is away past the deadline of 02:00's run.
	second := jobsOf(t, inst, kindSnapshot)[1]
	finishJob(t, &second, true, next.Add(4*time.Minute))
	third := next.Add(time.Hour)
	r.drainEvents()
	r.reconcileAt(t, getInstance(t, ns, "snap"), third.Add(6*time.Minute))
	if jobs := jobsOf(t, inst, kindSnapshot); len(jobs) != 2 {
		t.Fatalf("a run past its starting deadline started: %v", jobNames(jobs))
	}
	inst = getInstance(t, ns, "snap")
	mustf(t, inst.Status.MissedSnapshots == 1, "missedSnapshots = %d, want 1", inst.Status.MissedSnapshots)
	wantCondition(t, inst, whycachev1.ConditionSnapshotsHealthy, metav1.ConditionFalse, whycachev1.ReasonScheduleMissed)
	mustf(t, hasEvent(r.drainEvents(), "ScheduleMissed"), "no ScheduleMissed event")

	// The run after it starts on time and clears the miss.
	fourth := third.Add(time.Hour)
	r.reconcileAt(t, inst, fourth)
	r.reconcileAt(t, getInstance(t, ns, "snap"), fourth.Add(time.Second))
	inst = getInstance(t, ns, "snap")
	mustf(t, slices.Contains(jobNames(jobsOf(t, inst, kindSnapshot)), jobName(inst, kindSnapshot, fourth)), "no Job for %s", fourth)
	mustf(t, inst.Status.MissedSnapshots == 0, "missedSnapshots = %d after a run started, want 0", inst.Status.MissedSnapshots)

	// Suspended: no run and no next time.
	inst.Spec.Snapshots.Suspend = true
	if err := admin.Update(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	before := len(jobsOf(t, inst, kindSnapshot))
	r.reconcileAt(t, getInstance(t, ns, "snap"), fourth.Add(time.Hour))
	inst = getInstance(t, ns, "snap")
	mustf(t, len(jobsOf(t, inst, kindSnapshot)) == before, "a suspended schedule started a Job")
	mustf(t, inst.Status.NextSnapshotTime == nil, "nextSnapshotTime = %v while suspended", inst.Status.NextSnapshotTime)
}

func TestJobHistoryLimit(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	inst := createInstance(t, ns, "hist", func(i *whycachev1.WhycacheInstance) {
		i.Spec.HistoryRewrite.Schedule = "*/10 * * * *"
		i.Spec.HistoryRewrite.SuccessfulJobsHistoryLimit = 2
		i.Spec.HistoryRewrite.FailedJobsHistoryLimit = 1
	})
	r := newTestReconciler(t, inst.CreationTimestamp.Time)
	start := inst.CreationTimestamp.Time.Truncate(10 * time.Minute).Add(10 * time.Minute)
	// Six runs: four succeed, two fail.
	for i, ok := range []bool{true, false, true, true, false, true} {
		at := start.Add(time.Duration(i) * 10 * time.Minute)
		r.reconcileAt(t, getInstance(t, ns, "hist"), at)
		j := jobsOf(t, inst, kindRewrite)
		var cur = j[len(j)-1]
		for _, x := range j {
			if x.Name == jobName(inst, kindRewrite, at) {
				cur = x
			}
		}
		finishJob(t, &cur, ok, at.Add(time.Minute))
	}
	r.reconcileAt(t, getInstance(t, ns, "hist"), start.Add(55*time.Minute))
	got := jobNames(jobsOf(t, inst, kindRewrite))
	want := []string{
		jobName(inst, kindRewrite, start.Add(30*time.Minute)),
		jobName(inst, kindRewrite, start.Add(40*time.Minute)),
		jobName(inst, kindRewrite, start.Add(50*time.Minute)),
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Jobs kept = %v, want the two newest succeeded and the newest failed %v", got, want)
	}
	c := jobsOf(t, inst, kindRewrite)[0].Spec.Template.Spec.Containers[0]
	mustf(t, slices.Equal(c.Command[:3], []string{"whycache", "rewrite-history", "--safe"}) && slices.Contains(c.Command, "--live-age=1h0m0s"),
		"rewrite command = %q", c.Command)
	inst = getInstance(t, ns, "hist")
	mustf(t, inst.Status.LastRewriteFailure != nil && inst.Status.LastRewriteFailure.JobName == jobName(inst, kindRewrite, start.Add(40*time.Minute)),
		"lastRewriteFailure = %+v", inst.Status.LastRewriteFailure)
	mustf(t, strings.Contains(inst.Status.LastRewriteFailure.Message, "BackoffLimitExceeded"), "failure message = %q", inst.Status.LastRewriteFailure.Message)
}

func TestUnparsableScheduleIsTerminal(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	// The CRD's pattern lets a minute of 61 through; only the parser can
	// tell.
	createInstance(t, ns, "badcron", func(i *whycachev1.WhycacheInstance) { i.Spec.HistoryRewrite.Schedule = "61 * * * *" })
	r := newTestReconciler(t, time.Now())
	_, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: key(ns, "badcron")})
	if err == nil || !errors.Is(err, reconcile.TerminalError(nil)) {
		t.Fatalf("Reconcile = %v, want a terminal error", err)
	}
	inst := getInstance(t, ns, "badcron")
	wantCondition(t, inst, whycachev1.ConditionReady, metav1.ConditionFalse, whycachev1.ReasonInvalidSpec)
	wantCondition(t, inst, whycachev1.ConditionDegraded, metav1.ConditionTrue, whycachev1.ReasonInvalidSpec)
	mustf(t, strings.Contains(conditionOf(t, inst, whycachev1.ConditionReady).Message, "spec.historyRewrite.schedule"), "message = %q", conditionOf(t, inst, whycachev1.ConditionReady).Message)
	mustf(t, hasEvent(r.drainEvents(), whycachev1.ReasonInvalidSpec), "no InvalidSpec event")
	// The agents still run: the schedule only concerns the Jobs.
	getDaemonSet(t, inst)
}
