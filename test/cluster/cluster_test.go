package cluster

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/whycache/whycache/internal/testserver"
)

// The instance the scenario runs.
const (
	appNamespace = "apps"
	instanceName = "features"
)

// TestCluster installs the operator on a fresh control plane, first with
// kubectl apply -k config/default, then with helm install of
// charts/whycache, and takes a WhycacheInstance through its life: agents
// on two nodes, a write seen on both, the pod webhook's injection, a
// snapshot on schedule, a third node that bootstraps from it, a history
// rewrite that a stopped node survives by rebuilding, the status a user
// sees, and the clean-up, which leaves nothing behind but the CRD. The
// first installation takes only the steps that need no schedule.
func TestCluster(t *testing.T) {
	requireCluster(t)
	ph := newPhases(t)
	ph.begin("servers and tools")
	s3 := testserver.S3(t)
	dir := shortTempDir(t)
	for _, tool := range []string{"etcd", "kube", "kwok"} {
		toolDir(t, tool)
	}

	ph.begin("control plane")
	cp := startControlPlane(t, filepath.Join(dir, "cp"))
	kl := newKubelet(t, cp.client, filepath.Join(dir, "n"), map[string]string{"whycache": bins.whycache})
	for _, n := range []string{"node-a", "node-b"} {
		cp.addNode(t, n)
		kl.addNode(n)
	}
	before := clusterScoped(t, cp)
	newScenario := func(label, name string, selfCerts bool) *scenario {
		if err := os.MkdirAll(filepath.Join(dir, label), 0o755); err != nil {
			fatal(t, err)
		}
		return &scenario{t: t, cp: cp, kl: kl, ph: ph, s3: s3, dir: filepath.Join(dir, label), label: label, name: name, selfCerts: selfCerts,
			storeURL: "mysql:" + testserver.MySQLDatabase(t)}
	}
	// kustomize's run has the webhook's certificate from the test (playing
	// cert-manager), helm's from the manager itself (the default).
	newScenario("kustomize", "flags", false).runShort(kustomizeInstall{})
	ph.begin("kustomize: 9 leftovers")
	checkLeftovers(t, cp, before)
	newScenario("helm", instanceName, true).run(helmInstall{})
	ph.begin("helm: 9 leftovers")
	checkLeftovers(t, cp, before)
}

// shortTempDir is a temporary folder with a short path: the agents' Unix
// sockets live several levels below it, and a socket path has at most 107
// bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "wc-")
	if err != nil {
		fatal(t, err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("WHYCACHE_E2E_KEEP") != "" {
			t.Logf("kept %s", dir)
			return
		}
		if err := os.RemoveAll(dir); err != nil {
			errorf(t, "remove %s: %v", dir, err)
		}
	})
	return dir
}
