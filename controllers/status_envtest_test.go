package controllers

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
)

// fillStore creates the log "flags" in the store at url with five updates
// and two nodes' progress: a caught up, b four updates behind.
func fillStore(t *testing.T, url string) logstore.Store {
	t.Helper()
	s, err := backends.Open(t.Context(), url, logstore.Options{Name: "flags", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range 5 {
		if _, err := s.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte{byte(i)})}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []logstore.NodeProgress{{Node: "node-a", AppliedID: 5}, {Node: "node-b", AppliedID: 1}} {
		if err := s.Heartbeat(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// setDaemonSetStatus plays the DaemonSet controller.
func setDaemonSetStatus(t *testing.T, ds *appsv1.DaemonSet, desired, ready int32) {
	t.Helper()
	ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: desired,
		CurrentNumberScheduled: desired, UpdatedNumberScheduled: desired, NumberReady: ready, NumberAvailable: ready}
	if err := admin.Status().Update(t.Context(), ds); err != nil {
		t.Fatal(err)
	}
}

// countStatusWrites makes r count its status writes.
func countStatusWrites(r *testReconciler) *int {
	n := new(int)
	r.Client = interceptor.NewClient(r.Client.(client.WithWatch), interceptor.Funcs{
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			*n++
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	})
	return n
}

func TestStatusFromLogStore(t *testing.T) {
	needEnv(t)
	stores := map[string]func(t *testing.T) string{
		"dir": func(t *testing.T) string { return t.TempDir() },
	}
	if os.Getenv(testserver.EnvMySQLDSN) != "" {
		stores["mariadb"] = func(t *testing.T) string { return "mysql:" + testserver.MySQLDatabase(t) }
	}
	for name, url := range stores {
		t.Run(name, func(t *testing.T) { testStatusFromLogStore(t, url(t)) })
	}
}

func testStatusFromLogStore(t *testing.T, url string) {
	ns := testNamespace(t)
	store := fillStore(t, url)
	storeSecret(t, ns, "st-store", url)
	inst := createInstance(t, ns, "st", func(i *whycachev1.WhycacheInstance) {
		i.Spec.LogStore.LogName = "flags"
		i.Spec.Agent.MaxLagIDs = 2
	})
	now := inst.CreationTimestamp.Time.Add(time.Second)
	r := newTestReconciler(t, now)
	r.reconcileAt(t, inst, now)
	inst = getInstance(t, ns, "st")
	wantCondition(t, inst, whycachev1.ConditionLogStoreReachable, metav1.ConditionTrue, whycachev1.ReasonReachable)
	// No DaemonSet controller runs here: the DaemonSet stays unobserved.
	wantCondition(t, inst, whycachev1.ConditionNodesReady, metav1.ConditionFalse, whycachev1.ReasonNodesNotReady)
	wantCondition(t, inst, whycachev1.ConditionReady, metav1.ConditionFalse, whycachev1.ReasonNodesNotReady)
	wantCondition(t, inst, whycachev1.ConditionDegraded, metav1.ConditionTrue, whycachev1.ReasonNodesLagging)
	st := inst.Status
	mustf(t, st.LatestUpdateID == 5 && st.LogID == store.ID().String(), "latest/log = %d/%s, want 5/%s", st.LatestUpdateID, st.LogID, store.ID())
	mustf(t, st.Nodes.Reporting == 2 && st.Nodes.Lagging == 1 && st.Nodes.SlowestNode == "node-b" && st.Nodes.SlowestAppliedID == 1,
		"nodes = %+v, want node-b lagging at 1", st.Nodes)

	// The DaemonSet's agents become ready: so does the instance.
	setDaemonSetStatus(t, getDaemonSet(t, inst), 2, 2)
	r.reconcileAt(t, inst, now.Add(time.Second))
	inst = getInstance(t, ns, "st")
	wantCondition(t, inst, whycachev1.ConditionNodesReady, metav1.ConditionTrue, whycachev1.ReasonAllNodesReady)
	wantCondition(t, inst, whycachev1.ConditionReady, metav1.ConditionTrue, whycachev1.ReasonReady)
	mustf(t, inst.Status.Nodes.Summary == "2/2", "nodes summary = %q", inst.Status.Nodes.Summary)

	// The store is read at most once per poll interval.
	if _, err := store.Append(t.Context(), []logstore.Op{logstore.Set([]byte("k"), []byte("x"))}); err != nil {
		t.Fatal(err)
	}
	if err := store.Heartbeat(t.Context(), logstore.NodeProgress{Node: "node-b", AppliedID: 6}); err != nil {
		t.Fatal(err)
	}
	writes := countStatusWrites(r)
	r.reconcileAt(t, inst, now.Add(10*time.Second))
	mustf(t, getInstance(t, ns, "st").Status.LatestUpdateID == 5, "the store was read again within the poll interval")
	// Nothing changed, so the status was not written.
	mustf(t, *writes == 0, "a reconcile that changed nothing wrote the status %d times", *writes)
	res := r.reconcileAt(t, inst, now.Add(40*time.Second))
	inst = getInstance(t, ns, "st")
	mustf(t, inst.Status.LatestUpdateID == 6 && inst.Status.Nodes.Lagging == 0, "after the interval: latest %d, lagging %d; want 6, 0",
		inst.Status.LatestUpdateID, inst.Status.Nodes.Lagging)
	wantCondition(t, inst, whycachev1.ConditionDegraded, metav1.ConditionFalse, whycachev1.ReasonAsExpected)
	mustf(t, res.RequeueAfter > 0 && res.RequeueAfter <= 30*time.Second, "RequeueAfter = %v, want the next poll", res.RequeueAfter)
}

func TestStoreUnreachable(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	// Nothing listens on port 1; the password must not show anywhere.
	storeSecret(t, ns, "down-store", "mysql://whycache:s3cret-pw@127.0.0.1:1/whycache")
	inst := createInstance(t, ns, "down", nil)
	r := newTestReconciler(t, time.Now())
	res := r.reconcileAt(t, inst, time.Now()) // no error: an unreachable store is a condition, not a retry storm
	inst = getInstance(t, ns, "down")
	wantCondition(t, inst, whycachev1.ConditionLogStoreReachable, metav1.ConditionFalse, whycachev1.ReasonStoreUnreachable)
	wantCondition(t, inst, whycachev1.ConditionReady, metav1.ConditionFalse, whycachev1.ReasonStoreUnreachable)
	wantCondition(t, inst, whycachev1.ConditionDegraded, metav1.ConditionTrue, whycachev1.ReasonStoreUnreachable)
	for _, c := range inst.Status.Conditions {
		mustf(t, !strings.Contains(c.Message, "s3cret-pw"), "condition %s shows the password: %q", c.Type, c.Message)
	}
	mustf(t, res.RequeueAfter > 0, "RequeueAfter = %v, want a retry at the next poll", res.RequeueAfter)
	mustf(t, hasEvent(r.drainEvents(), "LogStoreUnreachable"), "no LogStoreUnreachable event")

	// A missing Secret is named as such.
	ns2 := testNamespace(t)
	inst2 := createInstance(t, ns2, "nosecret", nil)
	r.reconcileAt(t, inst2, time.Now())
	wantCondition(t, getInstance(t, ns2, "nosecret"), whycachev1.ConditionLogStoreReachable, metav1.ConditionFalse, whycachev1.ReasonSecretNotFound)
}

func TestStoreTimeout(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	storeSecret(t, ns, "slow-store", "/unused")
	inst := createInstance(t, ns, "slow", nil)
	r := newTestReconciler(t, time.Now())
	r.StoreTimeout = 200 * time.Millisecond
	// A store that never answers: the read gives up at the timeout.
	r.OpenStore = func(ctx context.Context, _ string, _ logstore.Options) (logstore.Store, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	r.reconcileAt(t, inst, time.Now())
	c := conditionOf(t, getInstance(t, ns, "slow"), whycachev1.ConditionLogStoreReachable)
	mustf(t, c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "deadline exceeded"), "LogStoreReachable = %+v, want a timeout", c)
}

func TestJobResultsInStatus(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	inst := snapshotInstance(t, ns, "res")
	hour := inst.CreationTimestamp.Time.Truncate(time.Hour).Add(time.Hour)
	r := newTestReconciler(t, hour)
	r.reconcileAt(t, inst, hour)
	j := jobsOf(t, inst, kindSnapshot)[0]

	// Play the kubelet: the Job's pod ends with the result line as its
	// termination message.
	line, err := agentapi.FormatResult(agentapi.SnapshotResult{Kind: agentapi.KindSnapshot, UpdateID: 42,
		Key: "team/flags/log/42.whycache", Bytes: 4096, Time: hour.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x", Namespace: ns, Labels: map[string]string{batchv1.JobNameLabel: j.Name}},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "snapshot", Image: testImage}}},
	}
	if err := admin.Create(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, ContainerStatuses: []corev1.ContainerStatus{{
		Name: "snapshot", Image: testImage, ImageID: "sha256:1",
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", Message: "some log\n" + line + "\n"}},
	}}}
	if err := admin.Status().Update(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	finishJob(t, &j, true, hour.Add(2*time.Minute))
	r.drainEvents()
	r.reconcileAt(t, getInstance(t, ns, "res"), hour.Add(3*time.Minute))
	inst = getInstance(t, ns, "res")
	s := inst.Status.LastSnapshot
	mustf(t, s != nil && s.JobName == j.Name && s.UpdateID == 42 && s.Object == "team/flags/log/42.whycache" && s.SizeBytes == 4096 &&
		s.Time.Time.Equal(hour.Add(time.Minute)), "lastSnapshot = %+v", s)
	mustf(t, hasEvent(r.drainEvents(), "SnapshotCompleted"), "no SnapshotCompleted event")

	// The next run fails: the status and an event say so.
	next := hour.Add(time.Hour)
	r.reconcileAt(t, inst, next)
	j2 := jobsOf(t, inst, kindSnapshot)[1]
	finishJob(t, &j2, false, next.Add(time.Minute))
	r.reconcileAt(t, getInstance(t, ns, "res"), next.Add(2*time.Minute))
	inst = getInstance(t, ns, "res")
	mustf(t, inst.Status.LastSnapshotFailure != nil && inst.Status.LastSnapshotFailure.JobName == j2.Name, "lastSnapshotFailure = %+v", inst.Status.LastSnapshotFailure)
	mustf(t, inst.Status.LastSnapshot.JobName == j.Name, "lastSnapshot moved to a failed Job: %+v", inst.Status.LastSnapshot)
	wantCondition(t, inst, whycachev1.ConditionSnapshotsHealthy, metav1.ConditionFalse, whycachev1.ReasonSnapshotFailed)
	mustf(t, hasEvent(r.drainEvents(), "SnapshotFailed"), "no SnapshotFailed event")
}
