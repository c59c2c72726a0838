package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/internal/kubetest"
)

func key(ns, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: ns, Name: name}
}

// storeSecret creates a Secret holding a log store URL under "url".
func storeSecret(t *testing.T, ns, name, url string) {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, StringData: map[string]string{"url": url}}
	if err := admin.Create(t.Context(), s); err != nil {
		t.Fatal(err)
	}
}

// createInstance creates an instance whose store URL is in Secret
// <name>-store, after mutate changes its spec, and returns it as stored
// (defaults applied).
func createInstance(t *testing.T, ns, name string, mutate func(*whycachev1.WhycacheInstance)) *whycachev1.WhycacheInstance {
	t.Helper()
	kubetest.CreateInstance(t, admin, ns, name, mutate)
	return getInstance(t, ns, name)
}

func getInstance(t *testing.T, ns, name string) *whycachev1.WhycacheInstance {
	t.Helper()
	var inst whycachev1.WhycacheInstance
	if err := admin.Get(t.Context(), key(ns, name), &inst); err != nil {
		t.Fatal(err)
	}
	return &inst
}

// reconcileAt runs one reconcile of the instance with the clock at now.
func (r *testReconciler) reconcileAt(t *testing.T, inst *whycachev1.WhycacheInstance, now time.Time) ctrl.Result {
	t.Helper()
	r.clock.SetTime(now)
	res, err := r.Reconcile(t.Context(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(inst)})
	if err != nil {
		t.Fatalf("reconcile at %s: %v", now.Format(time.RFC3339), err)
	}
	return res
}

func getDaemonSet(t *testing.T, inst *whycachev1.WhycacheInstance) *appsv1.DaemonSet {
	t.Helper()
	var ds appsv1.DaemonSet
	if err := admin.Get(t.Context(), key(inst.Namespace, agentName(inst)), &ds); err != nil {
		t.Fatal(err)
	}
	return &ds
}

// jobsOf lists the instance's Jobs of a kind, by name.
func jobsOf(t *testing.T, inst *whycachev1.WhycacheInstance, kind jobKind) []batchv1.Job {
	t.Helper()
	var list batchv1.JobList
	if err := admin.List(t.Context(), &list, client.InNamespace(inst.Namespace),
		client.MatchingLabels{labelInstance: inst.Name, labelComponent: string(kind)}); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(list.Items, func(a, b batchv1.Job) int { return strings.Compare(a.Name, b.Name) })
	return list.Items
}

func jobNames(jobs []batchv1.Job) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}

// finishJob plays the Job controller: it marks the Job succeeded or failed.
func finishJob(t *testing.T, j *batchv1.Job, succeeded bool, at time.Time) {
	t.Helper()
	now := metav1.NewTime(at.Truncate(time.Second))
	start := metav1.NewTime(at.Add(-time.Minute).Truncate(time.Second))
	j.Status.StartTime = &start
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &now
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
		}
	} else {
		j.Status.Failed = 1
		j.Status.Conditions = []batchv1.JobCondition{
			{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
		}
	}
	if err := admin.Status().Update(t.Context(), j); err != nil {
		t.Fatalf("finish Job %s: %v", j.Name, err)
	}
}

// condition returns the instance's condition of a type.
func conditionOf(t *testing.T, inst *whycachev1.WhycacheInstance, typ string) metav1.Condition {
	t.Helper()
	c := meta.FindStatusCondition(inst.Status.Conditions, typ)
	if c == nil {
		t.Fatalf("no %s condition in %+v", typ, inst.Status.Conditions)
	}
	return *c
}

// wantCondition checks a condition's status and reason.
func wantCondition(t *testing.T, inst *whycachev1.WhycacheInstance, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	c := conditionOf(t, inst, typ)
	if c.Status != status || c.Reason != reason {
		t.Errorf("condition %s = %s/%s (%s), want %s/%s", typ, c.Status, c.Reason, c.Message, status, reason)
	}
}

// hasEvent reports whether one of the events has the reason.
func hasEvent(events []string, reason string) bool {
	for _, e := range events {
		if strings.Contains(e, " "+reason+" ") {
			return true
		}
	}
	return false
}

func envByName(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func mustf(t *testing.T, ok bool, format string, args ...any) {
	t.Helper()
	if !ok {
		t.Errorf("%s", fmt.Sprintf(format, args...))
	}
}
