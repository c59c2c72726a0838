package cluster

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// writeStatus writes the pod's status when it differs from what the
// kubelet last wrote.
func (k *kubelet) writeStatus(ctx context.Context, pod *corev1.Pod, r *podRun) error {
	st := podStatus(pod, r, time.Now())
	key := statusKey(st)
	if key == r.reported {
		return nil
	}
	p := pod.DeepCopy()
	p.Status = st
	if err := k.c.Status().Update(ctx, p); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return nil // the next round sees the new pod
		}
		return fmt.Errorf("update status: %w", err)
	}
	r.reported = key
	return nil
}

// statusKey sums up what the kubelet decides in a status.
func statusKey(st corev1.PodStatus) string {
	key := string(st.Phase)
	for _, c := range st.Conditions {
		key += fmt.Sprintf(" %s=%s", c.Type, c.Status)
	}
	for _, cs := range st.ContainerStatuses {
		key += fmt.Sprintf(" %s:%v:%d", cs.Name, cs.Ready, cs.RestartCount)
		switch {
		case cs.State.Running != nil:
			key += ":running"
		case cs.State.Terminated != nil:
			key += fmt.Sprintf(":exit%d", cs.State.Terminated.ExitCode)
		case cs.State.Waiting != nil:
			key += ":waiting"
		}
	}
	return key
}

// podStatus is the status a kubelet would report for the pod now.
func podStatus(pod *corev1.Pod, r *podRun, now time.Time) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase: corev1.PodRunning, HostIP: "10.0.0.1", HostIPs: []corev1.HostIP{{IP: "10.0.0.1"}},
		PodIP: r.podIP, PodIPs: []corev1.PodIP{{IP: r.podIP}}, StartTime: pod.Status.StartTime,
		QOSClass: pod.Status.QOSClass,
	}
	if st.StartTime == nil {
		st.StartTime = ptr.To(metav1.NewTime(now))
	}
	cs := corev1.ContainerStatus{Name: r.container.Name, Image: r.container.Image, ImageID: r.container.Image,
		RestartCount: r.restarts, Ready: r.ready, Started: ptr.To(r.proc != nil)}
	if r.lastExit != nil {
		cs.LastTerminationState = corev1.ContainerState{Terminated: r.lastExit}
	}
	switch {
	case r.finished != nil:
		cs.State = corev1.ContainerState{Terminated: r.finished}
		cs.LastTerminationState = corev1.ContainerState{}
		st.Phase = corev1.PodSucceeded
		if r.finished.ExitCode != 0 {
			st.Phase = corev1.PodFailed
		}
	case r.proc != nil:
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(r.started)}}
		cs.ContainerID = r.containerID
	default:
		cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
		if r.lastExit != nil {
			cs.State.Waiting.Reason = "Stopped"
		}
	}
	st.ContainerStatuses = []corev1.ContainerStatus{cs}
	st.Conditions = podConditions(pod, r, st.Phase, now)
	return st
}

// podConditions are the pod's conditions, keeping the transition times of
// those that do not change.
func podConditions(pod *corev1.Pod, r *podRun, phase corev1.PodPhase, now time.Time) []corev1.PodCondition {
	status := func(b bool) corev1.ConditionStatus {
		if b {
			return corev1.ConditionTrue
		}
		return corev1.ConditionFalse
	}
	running := phase == corev1.PodRunning
	want := []corev1.PodCondition{
		{Type: corev1.PodReadyToStartContainers, Status: status(running)},
		{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
		{Type: corev1.ContainersReady, Status: status(running && r.ready)},
		{Type: corev1.PodReady, Status: status(running && r.ready)},
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue},
	}
	if !running {
		for i := 2; i <= 3; i++ {
			want[i].Reason = "PodCompleted"
		}
	}
	for i := range want {
		want[i].LastTransitionTime = metav1.NewTime(now)
		for _, old := range pod.Status.Conditions {
			if old.Type == want[i].Type && old.Status == want[i].Status {
				want[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	return want
}
