package cluster

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/whycache/whycache"
	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/internal/testserver"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/snapshot"
)

// scenario is one run of the steps against one installation.
type scenario struct {
	t        *testing.T
	cp       *controlPlane
	kl       *kubelet
	ph       *phases
	s3       testserver.S3Config
	s3Prefix string
	storeURL string
	dir      string
	mgr      *manager
	// label names the installation in the phases.
	label string
	// selfCerts runs the webhook with the manager's own certificates;
	// otherwise the test plays cert-manager (see webhookSetup).
	selfCerts bool
	// name is the instance's name.
	name string
	// want is what every node's file must hold in the end.
	want map[string]string
	// head is the newest update id the test wrote.
	head uint64
}

// The scenario's deadlines. The snapshot and rewrite Jobs run every
// minute, and a node counts as gone after a minute without heartbeat.
const (
	scheduleWait = 3 * time.Minute
	readyWait    = 90 * time.Second
)

// run takes every step, each a phase.
func (s *scenario) run(inst installer) {
	t := s.t
	s.install(inst)
	s.writeAndRead()
	s.checkInjection()
	// node-b goes down now, so that by the time a rewrite runs its
	// heartbeat is more than historyRewrite.nodeGoneAfter (1m) old, and
	// then writes go on without it.
	s.kl.stopNode("node-b")
	away := s.appliedOn("node-b")
	s.writeMore()

	s.phase("4 snapshot on schedule")
	s.waitSnapshot()

	s.phase("5 node joins from snapshot")
	s.cp.addNode(t, "node-c")
	s.kl.addNode("node-c")
	s.waitAgentFromSnapshot("node-c")
	s.checkFile("node-c")

	s.phase("6 rewrite, node rebuilds")
	s.waitHorizonAbove(away)
	s.kl.startNode("node-b")
	s.waitAgentFromSnapshot("node-b")
	s.checkFile("node-b")
	s.checkFile("node-a")

	s.phase("7 kubectl get")
	s.waitPrinted("3/3")
	s.uninstall(inst)
}

// runShort takes the steps that do not wait for a schedule: the install,
// an instance on two nodes, a write seen on both, the injection, the
// status, the delete and the uninstall.
func (s *scenario) runShort(inst installer) {
	s.install(inst)
	s.writeAndRead()
	s.checkInjection()
	s.phase("7 kubectl get")
	s.waitPrinted("2/2")
	s.uninstall(inst)
}

// phase starts the next phase, named after the installation.
func (s *scenario) phase(name string) { s.ph.begin(s.label + ": " + name) }

// install installs the operator, starts the manager, applies the instance
// and waits for its agents on node-a and node-b.
func (s *scenario) install(inst installer) {
	s.phase("1 install")
	inst.install(s.t, s.cp)
	s.mgr = startManager(s.t, s.cp, filepath.Join(s.dir, "operator"), s.selfCerts)
	s.phase("2 instance and agents")
	s.createInstance()
	s.waitNodesReady(2)
	s.phase("3 write and read")
}

// uninstall deletes the instance, stops the manager and uninstalls.
func (s *scenario) uninstall(inst installer) {
	s.phase("8 delete and uninstall")
	s.deleteInstance()
	s.mgr.stop(s.t)
	inst.uninstall(s.t, s.cp)
}

// instanceDir is the instance's folder on a node.
func (s *scenario) instanceDir(node string) string {
	return filepath.Join(s.kl.nodeRoot(node), "var", "lib", "whycache", appNamespace, s.name)
}

// createInstance applies the Secrets and the WhycacheInstance with kubectl.
func (s *scenario) createInstance() {
	t := s.t
	s.s3Prefix = testserver.S3Prefix()
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: Secret
metadata:
  name: %[2]s-store
  namespace: %[1]s
stringData:
  url: %[3]q
---
apiVersion: v1
kind: Secret
metadata:
  name: %[2]s-s3
  namespace: %[1]s
stringData:
  AWS_ACCESS_KEY_ID: %[4]q
  AWS_SECRET_ACCESS_KEY: %[5]q
---
apiVersion: whycache.io/v1alpha1
kind: WhycacheInstance
metadata:
  name: %[2]s
  namespace: %[1]s
spec:
  logStore:
    urlSecretRef:
      name: %[2]s-store
    logName: features
    createLog: true
  snapshots:
    bucket: %[6]s
    prefix: %[7]s
    region: %[8]s
    endpoint: %[9]s
    pathStyle: true
    credentialsSecretRef:
      name: %[2]s-s3
    schedule: "* * * * *"
    retention: 3
  historyRewrite:
    schedule: "* * * * *"
    nodeGoneAfter: 1m
  agent:
    maxLag: 30s
`, appNamespace, s.name, s.storeURL, s.s3.AccessKey, s.s3.SecretKey, s.s3.Bucket, s.s3Prefix, s.s3.Region, s.s3.Endpoint)
	path := filepath.Join(s.dir, s.name+".yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		fatal(t, err)
	}
	t.Log(strings.TrimSpace(s.cp.mustKubectl(t, "apply", "-f", path)))
}

// instance reads the WhycacheInstance.
func (s *scenario) instance() (*whycachev1.WhycacheInstance, error) {
	var wi whycachev1.WhycacheInstance
	err := s.cp.client.Get(s.t.Context(), client.ObjectKey{Namespace: appNamespace, Name: s.name}, &wi)
	return &wi, err
}

// waitNodesReady waits until the status counts n of n nodes ready.
func (s *scenario) waitNodesReady(n int32) {
	waitFor(s.t, fmt.Sprintf("%d/%d agents ready", n, n), readyWait, func() error {
		wi, err := s.instance()
		if err != nil {
			return err
		}
		if got := wi.Status.Nodes; got.Desired != n || got.Ready != n {
			return fmt.Errorf("nodes %d/%d", got.Ready, got.Desired)
		}
		return nil
	})
}

// writeAndRead writes through node-a's socket and reads on node-b.
func (s *scenario) writeAndRead() {
	t := s.t
	a := s.open("node-a")
	items := map[string][]byte{}
	s.want = map[string]string{}
	for i := range 10 {
		k, v := fmt.Sprintf("flag.%d", i), fmt.Sprintf("v1-%d", i)
		items[k], s.want[k] = []byte(v), v
	}
	id, err := a.SetMulti(t.Context(), items)
	if err != nil {
		fatalf(t, "write through node-a's socket: %v", err)
	}
	s.head = id
	b := s.open("node-b")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := b.WaitFor(ctx, id); err != nil {
		fatalf(t, "node-b: %v", err)
	}
	s.compare("node-b", b)
	t.Logf("update %d written through node-a's socket is in node-b's file", id)
}

// writeMore overwrites, deletes and adds keys through node-a.
func (s *scenario) writeMore() {
	t := s.t
	a := s.open("node-a")
	items := map[string][]byte{}
	for i := range 5 {
		k, v := fmt.Sprintf("flag.%d", i), fmt.Sprintf("v2-%d", i)
		items[k], s.want[k] = []byte(v), v
	}
	if _, err := a.SetMulti(t.Context(), items); err != nil {
		fatal(t, err)
	}
	var gone [][]byte
	for i := 5; i < 8; i++ {
		k := fmt.Sprintf("flag.%d", i)
		gone = append(gone, []byte(k))
		delete(s.want, k)
	}
	if _, err := a.DeleteMulti(t.Context(), gone); err != nil {
		fatal(t, err)
	}
	id, err := a.Set(t.Context(), []byte("flag.new"), []byte("v2"))
	if err != nil {
		fatal(t, err)
	}
	s.want["flag.new"], s.head = "v2", id
}

// open opens the node's cache file (closed when the test ends).
func (s *scenario) open(node string) *whycache.Client {
	t := s.t
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	c, err := whycache.OpenWait(ctx, s.instanceDir(node))
	if err != nil {
		fatalf(t, "open the cache file of %s: %v", node, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appliedOn is the update id in the node's file.
func (s *scenario) appliedOn(node string) uint64 {
	return s.open(node).UpdateID()
}

// compare checks that the file holds exactly s.want.
func (s *scenario) compare(node string, c *whycache.Client) {
	s.t.Helper()
	got := map[string]string{}
	for k, v := range c.Items() {
		got[string(k)] = string(v)
	}
	if !maps.Equal(got, s.want) {
		fatalf(s.t, "%s's file holds %v, want %v", node, got, s.want)
	}
}

// checkFile waits until the node's file holds the newest update and
// compares its content.
func (s *scenario) checkFile(node string) {
	c := s.open(node)
	ctx, cancel := context.WithTimeout(s.t.Context(), 30*time.Second)
	defer cancel()
	if err := c.WaitFor(ctx, s.head); err != nil {
		fatalf(s.t, "%s: %v", node, err)
	}
	s.compare(node, c)
}

// waitSnapshot waits until a snapshot Job that the controller created on
// schedule has covered the newest write, and checks the object in S3.
func (s *scenario) waitSnapshot() {
	t := s.t
	var run *whycachev1.SnapshotRun
	var logID string
	waitFor(t, fmt.Sprintf("a snapshot at or above update %d", s.head), scheduleWait, func() error {
		wi, err := s.instance()
		if err != nil {
			return err
		}
		if r := wi.Status.LastSnapshot; r == nil || r.UpdateID < int64(s.head) {
			return fmt.Errorf("last snapshot %+v", r)
		}
		run, logID = wi.Status.LastSnapshot, wi.Status.LogID
		return nil
	})
	var job batchv1.Job
	if err := s.cp.client.Get(t.Context(), client.ObjectKey{Namespace: appNamespace, Name: run.JobName}, &job); err != nil {
		fatalf(t, "the snapshot Job %s: %v", run.JobName, err)
	}
	if owner := metav1.GetControllerOf(&job); owner == nil || owner.Kind != "WhycacheInstance" || owner.Name != s.name {
		fatalf(t, "the snapshot Job %s is not owned by the instance: %v", job.Name, job.OwnerReferences)
	}
	t.Logf("snapshot Job %s (scheduled %s): update %d, object %s, %d bytes", job.Name,
		job.Annotations["whycache.io/scheduled-at"], run.UpdateID, run.Object, run.SizeBytes)
	layout, err := snapshot.Open(t.Context(), s.s3.URL(s.s3Prefix), snapshot.S3Options{
		Credentials: snapshot.Credentials{AccessKeyID: s.s3.AccessKey, SecretAccessKey: s.s3.SecretKey}})
	if err != nil {
		fatal(t, err)
	}
	id, err := logstore.ParseLogID(logID)
	if err != nil {
		fatalf(t, "status.logID %q: %v", logID, err)
	}
	m, err := layout.Latest(t.Context(), id)
	if err != nil {
		fatalf(t, "the newest snapshot in S3: %v", err)
	}
	info, err := layout.Store().Stat(t.Context(), m.Object)
	if err != nil {
		fatalf(t, "the snapshot object %s in S3: %v", m.Object, err)
	}
	if m.UpdateID < s.head {
		fatalf(t, "the newest snapshot in S3 holds update %d, want at least %d", m.UpdateID, s.head)
	}
	t.Logf("in S3: %s (%d bytes), update %d", m.Object, info.Size, m.UpdateID)
}

// waitAgentFromSnapshot waits until the node's agent is ready and checks
// that it built its file from a snapshot, not by replaying the log.
func (s *scenario) waitAgentFromSnapshot(node string) {
	t := s.t
	var url, logPath string
	waitFor(t, "the agent on "+node+" ready", readyWait, func() error {
		var err error
		if url, logPath, err = s.kl.agentOn(node); err != nil {
			return err
		}
		return httpOK(t.Context(), s.kl.probe, url+"/readyz")
	})
	metrics, err := httpGet(t.Context(), url+"/metrics")
	if err != nil {
		fatal(t, err)
	}
	snap := metricValue(metrics, `whycache_agent_bootstrap_source_total{source="snapshot"}`)
	replay := metricValue(metrics, `whycache_agent_bootstrap_source_total{source="replay"}`)
	if snap < 1 || replay != 0 {
		fatalf(t, "%s's agent bootstrapped %v times from a snapshot and %v times by replay, want 1 and 0; log:\n%s",
			node, snap, replay, fileTail(logPath, 4000))
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		fatal(t, err)
	}
	if !strings.Contains(string(log), "bootstrapped from a snapshot") {
		fatalf(t, "%s's agent log does not say it bootstrapped from a snapshot:\n%s", node, fileTail(logPath, 4000))
	}
	t.Logf("%s: %s", node, grepLines(metrics, "whycache_agent_bootstraps_total", "whycache_agent_bootstrap_source_total"))
}

// waitHorizonAbove waits until a rewrite Job has removed delete markers
// above id and the log's horizon has risen past it.
func (s *scenario) waitHorizonAbove(id uint64) {
	waitFor(s.t, fmt.Sprintf("a rewrite that raises the horizon above %d", id), scheduleWait, func() error {
		wi, err := s.instance()
		if err != nil {
			return err
		}
		r := wi.Status.LastRewrite
		if r == nil || r.DeleteLimit <= int64(id) || wi.Status.Horizon <= int64(id) {
			return fmt.Errorf("horizon %d, last rewrite %+v", wi.Status.Horizon, r)
		}
		s.t.Logf("rewrite Job %s: through %d, delete limit %d, %d rows removed, horizon %d (%s)",
			r.JobName, r.Through, r.DeleteLimit, r.RowsRemoved, wi.Status.Horizon, r.Reason)
		return nil
	})
}

// waitPrinted waits until kubectl get shows the instance Ready, with the
// newest update id and nodes ("3/3") ready.
func (s *scenario) waitPrinted(nodes string) {
	t := s.t
	var out string
	waitFor(t, "kubectl get whycacheinstances to show Ready, the latest id and "+nodes, readyWait, func() error {
		var err error
		out, err = s.cp.kubectl(t, "-n", appNamespace, "get", "whycacheinstance", s.name)
		if err != nil {
			return err
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 {
			return fmt.Errorf("output:\n%s", out)
		}
		f := strings.Fields(lines[1])
		if len(f) < 4 || f[0] != s.name || f[1] != "True" || f[2] != fmt.Sprint(s.head) || f[3] != nodes {
			return fmt.Errorf("want %s True %d %s; output:\n%s", s.name, s.head, nodes, out)
		}
		return nil
	})
	t.Logf("kubectl get whycacheinstances:\n%s", out)
}

// deleteInstance deletes the instance and waits until its DaemonSet, Jobs,
// pods and processes are gone.
func (s *scenario) deleteInstance() {
	t := s.t
	s.cp.mustKubectl(t, "-n", appNamespace, "delete", "whycacheinstance", s.name, "--wait=true", "--timeout=60s")
	sel := client.MatchingLabels{"app.kubernetes.io/instance": s.name}
	// The garbage collector deletes them, and it learns of a new CRD only
	// when it next reads the API's resources, every 30 s: right after
	// kubectl apply -k of the CRD, 30–40 s pass before it acts.
	waitFor(t, "the instance's children to go", scheduleWait, func() error {
		var left []string
		for _, list := range []client.ObjectList{&batchv1.JobList{}, &corev1.PodList{}, &appsDaemonSetList{}} {
			if err := s.cp.client.List(t.Context(), list, client.InNamespace(appNamespace), sel); err != nil {
				return err
			}
			left = append(left, names(list)...)
		}
		for _, n := range []string{"node-a", "node-b", "node-c"} {
			if k := s.kl.running(n); k > 0 {
				left = append(left, fmt.Sprintf("%d processes on %s", k, n))
			}
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
}
