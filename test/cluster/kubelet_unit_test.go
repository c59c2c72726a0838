package cluster

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// These tests of the kubelet's pure parts run in `make test` too.

func TestPodStatus(t *testing.T) {
	now := time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	pod := &corev1.Pod{Status: corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: earlier},
		{Type: corev1.PodReady, Status: corev1.ConditionFalse, LastTransitionTime: earlier},
	}}}
	running := &proc{cmd: nil}
	tests := []struct {
		name      string
		run       podRun
		phase     corev1.PodPhase
		ready     corev1.ConditionStatus
		state     string
		message   string
		readySame bool // Ready keeps its old transition time
	}{
		{name: "started, not ready yet", run: podRun{proc: running},
			phase: corev1.PodRunning, ready: corev1.ConditionFalse, state: "running", readySame: true},
		{name: "ready", run: podRun{proc: running, ready: true},
			phase: corev1.PodRunning, ready: corev1.ConditionTrue, state: "running"},
		{name: "stopped with its node", run: podRun{restarts: 1, lastExit: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "NodeStopped"}},
			phase: corev1.PodRunning, ready: corev1.ConditionFalse, state: "waiting", readySame: true},
		{name: "a Job that succeeded", run: podRun{finished: &corev1.ContainerStateTerminated{ExitCode: 0, Message: "whycache-result: {}\n"}},
			phase: corev1.PodSucceeded, ready: corev1.ConditionFalse, state: "terminated", message: "whycache-result: {}\n", readySame: true},
		{name: "a Job that failed", run: podRun{finished: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "boom"}},
			phase: corev1.PodFailed, ready: corev1.ConditionFalse, state: "terminated", message: "boom", readySame: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.run
			r.podIP, r.container = "10.244.0.2", corev1.Container{Name: "agent", Image: "img"}
			if r.proc != nil {
				r.started = now
			}
			st := podStatus(pod, &r, now)
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			cs := st.ContainerStatuses[0]
			var state, msg string
			switch {
			case cs.State.Running != nil:
				state = "running"
			case cs.State.Waiting != nil:
				state = "waiting"
			case cs.State.Terminated != nil:
				state, msg = "terminated", cs.State.Terminated.Message
			}
			if state != tc.state || msg != tc.message {
				t.Errorf("container state %s %q, want %s %q", state, msg, tc.state, tc.message)
			}
			if cs.Ready != (tc.ready == corev1.ConditionTrue) || cs.RestartCount != r.restarts {
				t.Errorf("container ready %v, restarts %d", cs.Ready, cs.RestartCount)
			}
			for _, c := range st.Conditions {
				if c.Type != corev1.PodReady {
					continue
				}
				if c.Status != tc.ready {
					t.Errorf("Ready %s, want %s", c.Status, tc.ready)
				}
				if same := c.LastTransitionTime.Equal(&earlier); same != tc.readySame {
					t.Errorf("Ready's transition time kept: %v, want %v", same, tc.readySame)
				}
			}
		})
	}
}

func TestResultLineAndTail(t *testing.T) {
	out := "log a\nwhycache-result: {\"kind\":\"snapshot\"}\nlog b\n"
	if got, want := resultLine(out), "whycache-result: {\"kind\":\"snapshot\"}\n"; got != want {
		t.Errorf("resultLine = %q, want %q", got, want)
	}
	if got := resultLine("no result\n"); got != "" {
		t.Errorf("resultLine without a result = %q", got)
	}
	if got, want := logTailLines("1\n2\n3\n4\n", 2, 100), "3\n4"; got != want {
		t.Errorf("logTailLines by lines = %q, want %q", got, want)
	}
	if got, want := logTailLines("1\n2\n3\n4\n", 10, 3), "3\n4"; got != want {
		t.Errorf("logTailLines by bytes = %q, want %q", got, want)
	}
}
