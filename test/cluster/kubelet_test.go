package cluster

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// kubelet plays the pod part of the kubelet of the fake nodes (kwok plays
// the node part: the node's Ready condition and heartbeats).
//
// Every 250 ms it lists the pods bound to its nodes and:
//   - starts a process for each new pod whose one container runs a binary it
//     knows (the whycache image's whycache), with the pod's command,
//     arguments and environment (Secrets, ConfigMaps and the downward API
//     resolved), hostPath volumes mapped to the node's folder and emptyDir
//     volumes to the pod's, and each container port mapped to a free port
//     of 127.0.0.1 (see podspec_test.go); the paths and addresses in the
//     arguments and environment are rewritten to match. A pod it cannot run
//     (another image's command) stays Pending;
//   - writes the pod's status through the status subresource, as a kubelet
//     does: Running with the Ready condition from its own probe of the
//     container's readinessProbe (an HTTP GET on the mapped port), and for
//     a pod that must not restart, Succeeded or Failed when the process
//     ends, with the termination message. The whycache commands write their
//     result line to /dev/termination-log, which a process on this machine
//     cannot have to itself: the kubelet takes the same line, which the
//     commands also print, from the process's output, and falls back to the
//     output's tail on an error (TerminationMessageFallbackToLogsOnError);
//   - restarts a process of a restartPolicy Always pod that exits, counting
//     the restarts;
//   - on a pod's deletion, stops its process (SIGTERM, then SIGKILL after
//     the grace period, at most 30 s) and then deletes the pod for good.
//
// Writing the status itself, rather than through kwok's pod stages, is
// what keeps readiness honest: kwok's pod-ready stage would mark every pod
// Ready at once. stopNode and startNode stop and restart every process of
// a node, as a node that goes down and comes back.
type kubelet struct {
	t     *testing.T
	c     client.Client
	root  string            // per-node folders: root/<node>
	bins  map[string]string // command name -> binary
	probe *http.Client

	mu    sync.Mutex
	nodes map[string]*fakeNode
	pods  map[types.UID]*podRun
	ips   int
	stop  context.CancelFunc
	done  chan struct{}
}

// fakeNode is one node the kubelet runs pods for.
type fakeNode struct {
	name, root string
	down       bool
}

// podRun is what the kubelet knows of one pod.
type podRun struct {
	uid       types.UID
	key       client.ObjectKey
	node      *fakeNode
	dir       string // the pod's own folder
	runnable  error  // why the pod cannot run, or nil
	container corev1.Container
	spec      *processSpec
	proc      *proc
	started   time.Time
	restarts  int32
	ready     bool
	finished  *corev1.ContainerStateTerminated
	podIP     string
	reported  string // the status last written, as statusKey
	restartAt time.Time
	// containerID names the running process in the status.
	containerID string
	backoff     time.Duration
	lastExit    *corev1.ContainerStateTerminated
	alwaysRest  bool
}

// processSpec is a container as a process on this machine.
type processSpec struct {
	path      string
	args      []string
	env       []string
	ports     portMap
	readyURL  string // "" without a readiness probe
	logPath   string
	graceSecs int64
}

func newKubelet(t *testing.T, c client.Client, root string, bins map[string]string) *kubelet {
	k := &kubelet{t: t, c: c, root: root, bins: bins, nodes: map[string]*fakeNode{}, pods: map[types.UID]*podRun{},
		probe: &http.Client{Timeout: 2 * time.Second}, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	k.stop = cancel
	go k.loop(ctx)
	t.Cleanup(k.shutdown)
	return k
}

// addNode makes the kubelet run the pods bound to the node.
func (k *kubelet) addNode(name string) string {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := &fakeNode{name: name, root: filepath.Join(k.root, name)}
	k.nodes[name] = n
	return n.root
}

// nodeRoot is the folder that stands for the node's root directory.
func (k *kubelet) nodeRoot(name string) string { return filepath.Join(k.root, name) }

// stopNode stops every process of the node, as a node that goes down, and
// keeps them stopped until startNode. The node is cordoned first, as the
// node controller taints a node that stops reporting, so that no new pod
// (a Job's) lands on it meanwhile.
func (k *kubelet) stopNode(name string) {
	k.setUnschedulable(name, true)
	k.mu.Lock()
	k.nodes[name].down = true
	k.mu.Unlock()
	waitFor(k.t, "the processes of "+name+" to stop", time.Minute, func() error {
		if n := k.running(name); n > 0 {
			return fmt.Errorf("%d processes still run", n)
		}
		return nil
	})
}

// startNode lets the node's pods run again.
func (k *kubelet) startNode(name string) {
	k.mu.Lock()
	k.nodes[name].down = false
	k.mu.Unlock()
	k.setUnschedulable(name, false)
}

func (k *kubelet) setUnschedulable(name string, v bool) {
	var n corev1.Node
	if err := k.c.Get(k.t.Context(), client.ObjectKey{Name: name}, &n); err != nil {
		fatal(k.t, err)
	}
	patch := client.MergeFrom(n.DeepCopy())
	n.Spec.Unschedulable = v
	if err := k.c.Patch(k.t.Context(), &n, patch); err != nil {
		fatalf(k.t, "cordon %s: %v", name, err)
	}
}

// running counts the processes that run for pods on the node.
func (k *kubelet) running(node string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, r := range k.pods {
		if r.node.name == node && r.proc != nil {
			n++
		}
	}
	return n
}

func (k *kubelet) shutdown() {
	k.stop()
	<-k.done
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.pods {
		k.stopProcess(r, "TestEnded")
	}
}

func (k *kubelet) loop(ctx context.Context) {
	defer close(k.done)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := k.sync(ctx); err != nil && ctx.Err() == nil {
			k.t.Logf("kubelet: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sync brings the processes and statuses in line with the pods. It holds
// the kubelet's lock throughout: the podRuns are its alone.
func (k *kubelet) sync(ctx context.Context) error {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods); err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[types.UID]bool{}
	for i := range pods.Items {
		pod := &pods.Items[i]
		node := k.nodes[pod.Spec.NodeName]
		if node == nil {
			continue
		}
		seen[pod.UID] = true
		if err := k.syncPod(ctx, pod, node); err != nil && ctx.Err() == nil {
			k.t.Logf("kubelet: pod %s/%s: %v", pod.Namespace, pod.Name, err)
		}
	}
	for uid, r := range k.pods {
		if !seen[uid] {
			k.stopProcess(r, "PodGone")
			delete(k.pods, uid)
		}
	}
	return nil
}

func (k *kubelet) syncPod(ctx context.Context, pod *corev1.Pod, node *fakeNode) error {
	r := k.pods[pod.UID]
	if r == nil {
		k.ips++
		r = &podRun{uid: pod.UID, key: client.ObjectKeyFromObject(pod), node: node,
			dir: filepath.Join(node.root, "pods", pod.Namespace+"_"+pod.Name), podIP: fmt.Sprintf("10.244.%d.%d", k.ips/250, k.ips%250+2),
			alwaysRest: pod.Spec.RestartPolicy == corev1.RestartPolicyAlways || pod.Spec.RestartPolicy == ""}
		k.pods[pod.UID] = r
		r.runnable = k.prepare(pod, r)
		if r.runnable != nil {
			k.t.Logf("kubelet: pod %s/%s on %s stays Pending: %v", pod.Namespace, pod.Name, node.name, r.runnable)
		}
	}
	if pod.DeletionTimestamp != nil {
		return k.finishDeletion(ctx, pod, r)
	}
	if r.runnable != nil {
		return nil
	}
	k.runProcess(ctx, pod, r, node.down)
	return k.writeStatus(ctx, pod, r)
}

// prepare works out the pod's process; an error says why it cannot run.
func (k *kubelet) prepare(pod *corev1.Pod, r *podRun) error {
	if len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		return fmt.Errorf("a pod of %d containers and %d init containers is %w (one container only)",
			len(pod.Spec.Containers), len(pod.Spec.InitContainers), errUnsupported)
	}
	c := pod.Spec.Containers[0]
	r.container = c
	if len(c.Command) == 0 {
		return fmt.Errorf("container %s has no command: %w", c.Name, errUnsupported)
	}
	bin, ok := k.bins[filepath.Base(c.Command[0])]
	if !ok {
		return fmt.Errorf("the test runs no process for command %q", c.Command[0])
	}
	r.spec = &processSpec{path: bin, logPath: filepath.Join(r.node.root, "logs", pod.Namespace+"_"+pod.Name+"_"+c.Name+".log"),
		graceSecs: 30}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil && *g < 30 {
		r.spec.graceSecs = *g
	}
	return nil
}

// finishDeletion stops the process of a pod being deleted, then deletes
// the pod for good.
func (k *kubelet) finishDeletion(ctx context.Context, pod *corev1.Pod, r *podRun) error {
	k.stopProcess(r, "Deleted")
	err := k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &r.uid})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("delete: %w", err)
	}
	return nil
}

// apiSource reads Secrets and ConfigMaps from the API server.
type apiSource struct {
	ctx context.Context
	c   client.Client
}

func (s apiSource) secret(ns, name string) (map[string][]byte, error) {
	var sec corev1.Secret
	if err := s.c.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &sec); err != nil {
		return nil, err
	}
	return sec.Data, nil
}

func (s apiSource) configMap(ns, name string) (map[string]string, error) {
	var cm corev1.ConfigMap
	if err := s.c.Get(s.ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// agentOn is the health URL and log of the agent process that runs on the
// node (the container named agent), or an error while there is none.
func (k *kubelet) agentOn(node string) (healthURL, logPath string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, r := range k.pods {
		if r.node.name != node || r.proc == nil || r.container.Name != "agent" {
			continue
		}
		port, err := probePort(&r.container, r.spec.ports, &corev1.HTTPGetAction{Port: intstr.FromString("health")})
		if err != nil {
			return "", "", err
		}
		return fmt.Sprintf("http://127.0.0.1:%d", port), r.spec.logPath, nil
	}
	return "", "", fmt.Errorf("no agent runs on %s", node)
}
