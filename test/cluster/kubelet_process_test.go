package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/whycache/whycache/pkg/agentapi"
)

// The kubelet's processes: how a pod's container is started, restarted,
// stopped, and reported on when it ends.

// resolve computes the process's arguments and environment; it runs at
// each start, as Secrets may have changed.
func (k *kubelet) resolve(ctx context.Context, pod *corev1.Pod, r *podRun) error {
	c := &r.container
	pod = pod.DeepCopy()
	pod.Status.PodIP, pod.Status.HostIP = r.podIP, "10.0.0.1"
	env, err := containerEnv(pod, c, apiSource{ctx: ctx, c: k.c})
	if err != nil {
		return err
	}
	paths, err := containerPaths(pod, c, r.node.root, r.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return err
	}
	if err := makeVolumes(paths); err != nil {
		return err
	}
	if r.spec.ports == nil {
		r.spec.ports = portMap{}
		for _, p := range c.Ports {
			r.spec.ports[p.ContainerPort] = freePort(k.t)
		}
	}
	defined := map[string]string{}
	for i, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		v = r.spec.ports.rewrite(paths.rewrite(v))
		env[i], defined[name] = name+"="+v, v
	}
	var args []string
	for _, a := range append(c.Command[1:], c.Args...) {
		args = append(args, r.spec.ports.rewrite(paths.rewrite(expandVars(a, defined))))
	}
	r.spec.args = args
	r.spec.env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + r.dir}, env...)
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
		port, err := probePort(c, r.spec.ports, p.HTTPGet)
		if err != nil {
			return err
		}
		r.spec.readyURL = fmt.Sprintf("http://127.0.0.1:%d%s", port, p.HTTPGet.Path)
	}
	return nil
}

// makeVolumes creates the folders of the container's mounts (a hostPath
// DirectoryOrCreate, an emptyDir).
func makeVolumes(paths pathMap) error {
	for _, p := range paths {
		if err := os.MkdirAll(p.outside, 0o755); err != nil {
			return fmt.Errorf("volume for %s: %w", p.inside, err)
		}
	}
	return nil
}

// runProcess starts, restarts or reaps the pod's process.
func (k *kubelet) runProcess(ctx context.Context, pod *corev1.Pod, r *podRun, down bool) {
	if r.proc != nil {
		if down {
			k.stopProcess(r, "NodeStopped")
			return
		}
		done, _ := r.proc.exited()
		if !done {
			r.ready = r.spec.readyURL == "" || httpOK(ctx, k.probe, r.spec.readyURL) == nil
			return
		}
		r.lastExit = terminatedState(r, r.proc)
		r.proc, r.ready = nil, false
		if !r.alwaysRest {
			r.finished = r.lastExit
			if r.finished.ExitCode == 0 {
				k.t.Logf("kubelet: %s on %s succeeded", r.key, r.node.name)
			} else {
				k.t.Logf("kubelet: %s on %s exited %d; log:\n%s", r.key, r.node.name, r.finished.ExitCode, fileTail(r.spec.logPath, 3000))
			}
			return
		}
		k.t.Logf("kubelet: %s on %s exited %d; restarting; log:\n%s", r.key, r.node.name, r.lastExit.ExitCode, fileTail(r.spec.logPath, 2000))
		r.restarts++
		k.backOff(r)
	}
	if r.finished != nil || down || time.Now().Before(r.restartAt) {
		return
	}
	if err := k.resolve(ctx, pod, r); err != nil {
		k.t.Logf("kubelet: %s: cannot start: %v", r.key, err)
		k.backOff(r)
		return
	}
	p, err := startProc(procSpec{name: r.key.String(), path: r.spec.path, args: r.spec.args, env: r.spec.env,
		dir: r.dir, logPath: r.spec.logPath})
	if err != nil {
		k.t.Logf("kubelet: %s: %v", r.key, err)
		k.backOff(r)
		return
	}
	r.backoff = 0
	r.proc, r.started, r.containerID = p, time.Now(), containerID(p)
	k.t.Logf("kubelet: started %s on %s: %s %s", r.key, r.node.name, filepath.Base(r.spec.path), strings.Join(r.spec.args, " "))
}

// backOff delays the next start of the pod's process: 1 s, doubling up to
// 10 s, as the kubelet's crash loop back-off does (in minutes).
func (k *kubelet) backOff(r *podRun) {
	r.backoff = min(max(2*r.backoff, time.Second), 10*time.Second)
	r.restartAt = time.Now().Add(r.backoff)
}

// terminatedState describes an ended process as a container state, with
// the termination message.
func terminatedState(r *podRun, p *proc) *corev1.ContainerStateTerminated {
	code := p.exitCode()
	out := fileTail(r.spec.logPath, 1<<20)
	msg := resultLine(out)
	reason := "Completed"
	if code != 0 {
		reason = "Error"
		if msg == "" && r.container.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
			msg = logTailLines(out, 80, 2048)
		}
	}
	return &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, Message: msg,
		StartedAt: metav1.NewTime(r.started), FinishedAt: metav1.Now(), ContainerID: containerID(p)}
}

// resultLine is the last whycache result line in a process's output.
func resultLine(out string) string {
	lines := strings.Split(out, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.HasPrefix(lines[i], agentapi.ResultPrefix) {
			return lines[i] + "\n"
		}
	}
	return ""
}

// logTailLines is the kubelet's fallback message: the last lines of the
// log, at most max bytes.
func logTailLines(out string, lines, max int) string {
	ls := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	s := strings.Join(ls, "\n")
	if len(s) > max {
		s = s[len(s)-max:]
	}
	return s
}

func containerID(p *proc) string { return fmt.Sprintf("e2e://%d", p.cmd.Process.Pid) }

// stopProcess stops a pod's process (the caller holds the lock).
func (k *kubelet) stopProcess(r *podRun, why string) {
	p := r.proc
	if p == nil {
		return
	}
	// A whycache process exits with status 0 on SIGTERM, in time.
	if err := p.stop(time.Duration(r.spec.graceSecs) * time.Second); err != nil {
		errorf(k.t, "kubelet: %s (%s): %v; log:\n%s", r.key, why, err, fileTail(r.spec.logPath, 2000))
	}
	r.lastExit = terminatedState(r, p)
	r.lastExit.Reason = why
	r.proc, r.ready = nil, false
	if r.alwaysRest {
		r.restarts++
	} else {
		r.finished = r.lastExit
	}
	k.t.Logf("kubelet: stopped %s on %s (%s)", r.key, r.node.name, why)
}
