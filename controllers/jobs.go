package controllers

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

// jobKind is what a scheduled Job does.
type jobKind string

const (
	kindSnapshot jobKind = "snapshot"
	kindRewrite  jobKind = "rewrite"
)

// jobName derives a Job's name from its scheduled time (in minutes, as
// Kubernetes' CronJob does), so that a run is never created twice: a
// second create of the same run fails with AlreadyExists.
func jobName(inst *whycachev1.WhycacheInstance, kind jobKind, scheduled time.Time) string {
	return fmt.Sprintf("%s-%s-%d", inst.Name, kind, scheduled.Unix()/60)
}

// snapshotURL is the --snapshot-url of the spec's snapshot location:
// s3://bucket/prefix?region=R&endpoint=URL&path-style=true.
func snapshotURL(s *whycachev1.SnapshotSpec) string {
	q := url.Values{}
	if s.Region != "" {
		q.Set("region", s.Region)
	}
	if s.Endpoint != "" {
		q.Set("endpoint", s.Endpoint)
	}
	if s.PathStyle {
		q.Set("path-style", "true")
	}
	u := url.URL{Scheme: "s3", Host: s.Bucket, Path: "/" + s.Prefix, RawQuery: q.Encode()}
	return u.String()
}

// s3Env is the S3 credentials from the spec's Secret; none without one
// (the SDK's default chain then finds them, for example through IRSA).
func s3Env(s *whycachev1.SnapshotSpec) []corev1.EnvVar {
	if s == nil || s.CredentialsSecretRef == nil {
		return nil
	}
	var env []corev1.EnvVar
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		env = append(env, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: *s.CredentialsSecretRef, Key: k,
		}}})
	}
	return env
}

// jobArgs is the command line of a Job of the given kind.
func jobArgs(inst *whycachev1.WhycacheInstance, kind jobKind) []string {
	s := inst.Spec.Snapshots
	if kind == kindSnapshot {
		return []string{"whycache", "snapshot", cliFlag(agentapi.FlagSnapshotURL, snapshotURL(s)),
			cliFlag(agentapi.FlagSnapshotKeep, strconv.Itoa(int(s.Retention)))}
	}
	args := []string{"whycache", "rewrite-history", "--" + agentapi.FlagSafe,
		cliFlag(agentapi.FlagLiveAge, nodeGoneAfter(inst).String())}
	if s != nil {
		// The safe limit stays at or below the newest snapshot's id.
		args = append(args, cliFlag(agentapi.FlagSnapshotURL, snapshotURL(s)))
	}
	return args
}

// jobPolicy is the spec's policy for Jobs of the kind.
func jobPolicy(inst *whycachev1.WhycacheInstance, kind jobKind) whycachev1.JobPolicy {
	if kind == kindSnapshot {
		if inst.Spec.Snapshots == nil {
			return whycachev1.JobPolicy{}
		}
		return inst.Spec.Snapshots.JobPolicy
	}
	return inst.Spec.HistoryRewrite.JobPolicy
}

// desiredJob is the Job for the run of the given kind scheduled at
// scheduled. It runs once (no retry: the next scheduled run is the retry)
// and writes its result line as its termination message.
func desiredJob(inst *whycachev1.WhycacheInstance, kind jobKind, scheduled time.Time, image string) *batchv1.Job {
	p := jobPolicy(inst, kind)
	labels := childLabels(inst, string(kind))
	env := append(storeEnv(inst), s3Env(inst.Spec.Snapshots)...)
	env = append(env, corev1.EnvVar{Name: "TMPDIR", Value: "/tmp"})
	var deadline *int64
	if p.ActiveDeadlineSeconds > 0 {
		deadline = ptr.To(p.ActiveDeadlineSeconds)
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: jobName(inst, kind, scheduled), Namespace: inst.Namespace, Labels: labels,
			Annotations: map[string]string{annotationScheduledAt: scheduled.UTC().Format(time.RFC3339)},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					ServiceAccountName:           agentName(inst),
					AutomountServiceAccountToken: ptr.To(false),
					PriorityClassName:            inst.Spec.Agent.PriorityClassName,
					Containers: []corev1.Container{{
						Name:                     string(kind),
						Image:                    image,
						ImagePullPolicy:          inst.Spec.Agent.ImagePullPolicy,
						Command:                  jobArgs(inst, kind),
						Env:                      env,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext:          RestrictedSecurityContext(),
						VolumeMounts:             []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
					}},
					Volumes: []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				},
			},
		},
	}
}

// jobsOfKind are an instance's Jobs of one kind, sorted by scheduled time.
type jobsOfKind struct {
	// Active are the Jobs still running.
	Active []*batchv1.Job
	// Succeeded and Failed are the finished Jobs, oldest first.
	Succeeded, Failed []*batchv1.Job
	// LastScheduled is the newest scheduled time among them.
	LastScheduled time.Time
}

// scheduledAt is a Job's scheduled time, from its annotation.
func scheduledAt(j *batchv1.Job) time.Time {
	t, err := time.Parse(time.RFC3339, j.Annotations[annotationScheduledAt])
	if err != nil {
		return j.CreationTimestamp.Time
	}
	return t
}

// jobFinished says whether a Job has finished and whether it succeeded.
func jobFinished(j *batchv1.Job) (finished, succeeded bool) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true
		case batchv1.JobFailed:
			return true, false
		}
	}
	return false, false
}

// classifyJobs sorts the Jobs of one kind by state and scheduled time.
func classifyJobs(jobs []batchv1.Job, kind jobKind) jobsOfKind {
	var out jobsOfKind
	var mine []*batchv1.Job
	for i := range jobs {
		if jobs[i].Labels[labelComponent] == string(kind) {
			mine = append(mine, &jobs[i])
		}
	}
	slices.SortFunc(mine, func(a, b *batchv1.Job) int { return scheduledAt(a).Compare(scheduledAt(b)) })
	for _, j := range mine {
		switch finished, ok := jobFinished(j); {
		case !finished:
			out.Active = append(out.Active, j)
		case ok:
			out.Succeeded = append(out.Succeeded, j)
		default:
			out.Failed = append(out.Failed, j)
		}
		out.LastScheduled = scheduledAt(j)
	}
	return out
}

// newestFinished is the most recently scheduled finished Job, or nil.
func (k jobsOfKind) newestFinished() *batchv1.Job {
	var s, f *batchv1.Job
	if n := len(k.Succeeded); n > 0 {
		s = k.Succeeded[n-1]
	}
	if n := len(k.Failed); n > 0 {
		f = k.Failed[n-1]
	}
	switch {
	case s == nil:
		return f
	case f == nil:
		return s
	case scheduledAt(f).After(scheduledAt(s)):
		return f
	default:
		return s
	}
}

// expiredJobs are the finished Jobs beyond the policy's history limits,
// oldest first.
func expiredJobs(k jobsOfKind, p whycachev1.JobPolicy) []*batchv1.Job {
	var out []*batchv1.Job
	if n := len(k.Succeeded) - int(p.SuccessfulJobsHistoryLimit); n > 0 {
		out = append(out, k.Succeeded[:n]...)
	}
	if n := len(k.Failed) - int(p.FailedJobsHistoryLimit); n > 0 {
		out = append(out, k.Failed[:n]...)
	}
	return out
}
