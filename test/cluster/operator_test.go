package cluster

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The operator's names shared by the chart and config/default.
const (
	operatorNamespace  = "whycache-system"
	operatorSA         = "whycache-operator"
	operatorDeployment = "whycache-operator"
	crdName            = "whycacheinstances.whycache.io"
)

// installer installs and uninstalls the operator's manifests.
type installer interface {
	// install installs everything but the manager's pods, which the test
	// runs as a local process instead (a process here cannot use a pod's
	// in-cluster credentials, which live at fixed paths).
	install(t *testing.T, cp *controlPlane)
	uninstall(t *testing.T, cp *controlPlane)
}

// kustomizeInstall installs config/default with kubectl apply -k.
type kustomizeInstall struct{}

func (kustomizeInstall) install(t *testing.T, cp *controlPlane) {
	t.Helper()
	// The CRD is too large for kubectl's last-applied annotation.
	cp.mustKubectl(t, "apply", "--server-side", "-k", filepath.Join(repoRoot(t), "config", "default"))
	cp.mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crdName)
	cp.mustKubectl(t, "-n", operatorNamespace, "scale", "deployment/"+operatorDeployment, "--replicas=0")
}

func (kustomizeInstall) uninstall(t *testing.T, cp *controlPlane) {
	t.Helper()
	cp.mustKubectl(t, "delete", "--wait=true", "--timeout=120s", "-k", filepath.Join(repoRoot(t), "config", "default"))
}

// manager is the operator's manager, run as a local process with the
// arguments of the installed Deployment and the permissions of its
// ServiceAccount.
type manager struct {
	proc       *proc
	healthURL  string
	kubeconfig string
	stopped    bool
}

// startManager starts the manager with the container arguments of the
// installed Deployment (addresses moved to free ports of 127.0.0.1), as
// the Deployment's ServiceAccount: its kubeconfig impersonates that
// account, so every request passes the installed RBAC rules. Its webhook
// is set up for the API server to call (see webhookSetup), with the
// manager's own certificates when selfCerts is true, else the test's.
func startManager(t *testing.T, cp *controlPlane, dir string, selfCerts bool) *manager {
	t.Helper()
	var dep appsv1.Deployment
	if err := cp.client.Get(t.Context(), client.ObjectKey{Namespace: operatorNamespace, Name: operatorDeployment}, &dep); err != nil {
		fatalf(t, "get the operator's Deployment: %v", err)
	}
	pod := &corev1.Pod{Spec: dep.Spec.Template.Spec}
	pod.Namespace = operatorNamespace
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "manager" })
	if i < 0 {
		fatalf(t, "the operator's Deployment has no container named manager")
	}
	c := &pod.Spec.Containers[i]
	if sa := pod.Spec.ServiceAccountName; sa != operatorSA {
		fatalf(t, "the operator's Deployment runs as ServiceAccount %q, want %q", sa, operatorSA)
	}
	ports := portMap{}
	for _, p := range c.Ports {
		ports[p.ContainerPort] = freePort(t)
	}
	args := managerArgs(append(c.Command[1:], c.Args...), ports)
	i = slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "webhook-server" })
	if i < 0 {
		fatalf(t, "the manager container has no port named webhook-server")
	}
	w := webhookSetup{self: selfCerts, port: ports[c.Ports[i].ContainerPort], certDir: filepath.Join(dir, "webhook-certs"),
		secret:     flagValue(args, "webhook-cert-secret", "whycache-webhook-server-cert"),
		configName: flagValue(args, "webhook-config-name", webhookConfigName)}
	args = w.args(t, args)
	w.prepare(t, cp)

	env, err := containerEnv(pod, c, apiSource{ctx: t.Context(), c: cp.client})
	if err != nil {
		fatalf(t, "the manager's environment: %v", err)
	}
	m := &manager{kubeconfig: filepath.Join(dir, "operator.kubeconfig")}
	cp.writeKubeconfig(t, m.kubeconfig, "system:serviceaccount:"+operatorNamespace+":"+operatorSA,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"})
	// Out of a pod, the manager cannot know its namespace. The status reads
	// the log store every 5 s rather than 30, so that the steps that wait
	// for it end sooner.
	args = append(args, "--kubeconfig="+m.kubeconfig, "--leader-election-namespace="+operatorNamespace,
		"--store-poll-interval=5s")
	health := healthPort(c, ports)
	if health == 0 {
		fatalf(t, "the manager container has no port named health")
	}
	m.healthURL = fmt.Sprintf("http://127.0.0.1:%d", health)
	m.proc, err = startProc(procSpec{name: "whycache-operator", path: bins.operator, args: args,
		env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}, env...), dir: dir,
		logPath: filepath.Join(dir, "logs", "whycache-operator.log")})
	if err != nil {
		fatal(t, err)
	}
	t.Logf("manager: whycache-operator %s", strings.Join(args, " "))
	t.Cleanup(func() { m.stop(t) })
	waitFor(t, "the manager's /readyz", time.Minute, func() error {
		if done, err := m.proc.exited(); done {
			return fatalError{fmt.Errorf("the manager exited: %v\n%s", err, m.proc.logTail(4000))}
		}
		return httpOK(t.Context(), http.DefaultClient, m.healthURL+"/readyz")
	})
	return m
}

// managerArgs are the Deployment's arguments with every listen address
// moved to its free port.
func managerArgs(in []string, ports portMap) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		out = append(out, ports.rewrite(a))
	}
	return out
}

func healthPort(c *corev1.Container, ports portMap) int {
	for _, p := range c.Ports {
		if p.Name == "health" {
			return ports[p.ContainerPort]
		}
	}
	return 0
}

// stop stops the manager and checks that it ran until then and exits
// cleanly.
func (m *manager) stop(t *testing.T) {
	if m.stopped {
		return
	}
	m.stopped = true
	if done, err := m.proc.exited(); done {
		errorf(t, "the manager exited during the test: %v\n%s", err, m.proc.logTail(6000))
		return
	}
	if err := m.proc.stop(40 * time.Second); err != nil {
		errorf(t, "the manager did not stop cleanly: %v\n%s", err, m.proc.logTail(6000))
	} else if t.Failed() {
		t.Logf("the manager's log:\n%s", m.proc.logTail(8000))
	}
}

// clusterScoped lists every cluster-scoped object but the nodes, as
// kind/name, to find what an installation leaves behind.
func clusterScoped(t *testing.T, cp *controlPlane) map[string]bool {
	t.Helper()
	out := cp.mustKubectl(t, "api-resources", "--namespaced=false", "--verbs=list", "-o", "name")
	var kinds []string
	for _, k := range strings.Fields(out) {
		if k != "nodes" && k != "componentstatuses" {
			kinds = append(kinds, k)
		}
	}
	out = cp.mustKubectl(t, "get", strings.Join(kinds, ","), "-o", "name")
	set := map[string]bool{}
	for _, o := range strings.Fields(out) {
		set[o] = true
	}
	return set
}

// checkLeftovers checks that, after the uninstall, the only cluster-scoped
// objects that were not there before are the CRD (which helm keeps on
// purpose, with the APIService the API server registers for it) and the
// test's own namespace.
func checkLeftovers(t *testing.T, cp *controlPlane, before map[string]bool) {
	t.Helper()
	allowed := map[string]bool{
		"customresourcedefinition.apiextensions.k8s.io/" + crdName: true,
		"apiservice.apiregistration.k8s.io/v1alpha1.whycache.io":   true,
		"namespace/" + appNamespace:                                true,
	}
	waitFor(t, "no cluster-scoped leftovers", time.Minute, func() error {
		var left []string
		for o := range clusterScoped(t, cp) {
			if !before[o] && !allowed[o] {
				left = append(left, o)
			}
		}
		if len(left) > 0 {
			slices.Sort(left)
			return fmt.Errorf("left behind: %v", left)
		}
		return nil
	})
}

// helmInstall installs charts/whycache from the working tree with helm.
type helmInstall struct{}

// helmRelease is the release name.
const helmRelease = "whycache"

// helm runs helm against the control plane, with its caches in dir.
func helm(t *testing.T, cp *controlPlane, args ...string) string {
	t.Helper()
	home := filepath.Join(cp.dir, "helm")
	env := append(os.Environ(), "KUBECONFIG="+cp.kubeconfig, "HELM_CACHE_HOME="+home+"/cache",
		"HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	out, err := runCmd(t.Context(), env, filepath.Join(toolDir(t, "helm"), "helm"), args...)
	if err != nil {
		fatal(t, err)
	}
	return out
}

func (helmInstall) install(t *testing.T, cp *controlPlane) {
	t.Helper()
	// The namespace is the test's, not the release's: helm uninstall
	// leaves a namespace it created behind.
	cp.mustKubectl(t, "create", "namespace", operatorNamespace)
	t.Log(helm(t, cp, "install", helmRelease, filepath.Join(repoRoot(t), "charts", "whycache"), "--namespace", operatorNamespace))
	cp.mustKubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+crdName)
	cp.mustKubectl(t, "-n", operatorNamespace, "scale", "deployment/"+operatorDeployment, "--replicas=0")
}

func (helmInstall) uninstall(t *testing.T, cp *controlPlane) {
	t.Helper()
	t.Log(helm(t, cp, "uninstall", helmRelease, "--namespace", operatorNamespace, "--wait", "--timeout=2m"))
	cp.mustKubectl(t, "delete", "namespace", operatorNamespace, "--wait=true", "--timeout=120s")
}
