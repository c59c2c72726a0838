package cluster

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/whycache/whycache/controllers"
)

// kwokStages are the kwok Stages the control plane runs: kwok's own node
// stages (it plays the node part of the kubelet), and none for pods: the
// test's kubelet writes pod status itself (see [kubelet]).
//
//go:embed testdata/kwok-stages.yaml
var kwokStages []byte

// Annotation that tells kwok to manage a node.
const (
	kwokAnnotation = "kwok.x-k8s.io/node"
	kwokValue      = "fake"
)

// controlPlane is etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler and kwok on 127.0.0.1, with their data in dir.
type controlPlane struct {
	dir        string
	kubeDir    string // kube-apiserver, kubectl...
	server     string // https://127.0.0.1:PORT
	token      string // the admin's bearer token (system:masters)
	caFile     string // the API server's certificate chain
	kubeconfig string // the admin's kubeconfig
	cfg        *rest.Config
	client     client.Client
	procs      []*proc
}

// startControlPlane starts the whole control plane and stops it when the
// test ends.
func startControlPlane(t *testing.T, dir string) *controlPlane {
	t.Helper()
	cp := &controlPlane{dir: dir, kubeDir: toolDir(t, "kube")}
	t.Cleanup(cp.stop(t))
	etcdURL := cp.startEtcd(t, toolDir(t, "etcd"))
	cp.startAPIServer(t, etcdURL)
	cp.startController(t, "kube-controller-manager", filepath.Join(cp.kubeDir, "kube-controller-manager"),
		"--kubeconfig="+cp.kubeconfig, "--leader-elect=false", "--secure-port=0", "--controllers=*",
		"--service-account-private-key-file="+filepath.Join(dir, "sa.key"), "--root-ca-file="+cp.caFile,
		// kwok renews node heartbeats every 20–45 s: give them room.
		"--node-monitor-grace-period=2m")
	cp.startController(t, "kube-scheduler", filepath.Join(cp.kubeDir, "kube-scheduler"),
		"--kubeconfig="+cp.kubeconfig, "--leader-elect=false", "--secure-port=0")
	stages := filepath.Join(dir, "kwok.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		fatal(t, err)
	}
	cp.startController(t, "kwok", filepath.Join(toolDir(t, "kwok"), "kwok"),
		"--kubeconfig="+cp.kubeconfig, "--config="+stages, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+kwokAnnotation+"="+kwokValue, "--manage-nodes-with-label-selector=",
		"--cidr=10.244.0.1/24", "--node-ip=10.0.0.1")
	return cp
}

// stop stops the processes, newest first.
func (cp *controlPlane) stop(t *testing.T) func() {
	return func() {
		for i := len(cp.procs) - 1; i >= 0; i-- {
			p := cp.procs[i]
			if done, err := p.exited(); done {
				errorf(t, "%s exited during the test (%v); log:\n%s", p.name, err, p.logTail(3000))
				continue
			}
			// The control plane's exit status after SIGTERM says nothing
			// about the test; only a hang is worth reporting.
			if err := p.stop(20 * time.Second); errors.Is(err, errKilled) {
				t.Logf("stop: %v", err)
			}
		}
	}
}

func (cp *controlPlane) start(t *testing.T, name, path string, args ...string) *proc {
	t.Helper()
	p, err := startProc(procSpec{name: name, path: path, args: args, logPath: filepath.Join(cp.dir, "logs", name+".log")})
	if err != nil {
		fatal(t, err)
	}
	cp.procs = append(cp.procs, p)
	return p
}

// startController starts a process that needs no readiness check of its
// own (the test waits for what it does).
func (cp *controlPlane) startController(t *testing.T, name, path string, args ...string) {
	t.Helper()
	cp.start(t, name, path, args...)
}

func (cp *controlPlane) startEtcd(t *testing.T, etcdDir string) string {
	t.Helper()
	client, peer := fmt.Sprintf("http://127.0.0.1:%d", freePort(t)), fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	p := cp.start(t, "etcd", filepath.Join(etcdDir, "etcd"), "--name=e2e", "--data-dir="+filepath.Join(cp.dir, "etcd"),
		"--listen-client-urls="+client, "--advertise-client-urls="+client,
		"--listen-peer-urls="+peer, "--initial-advertise-peer-urls="+peer, "--initial-cluster=e2e="+peer,
		"--unsafe-no-fsync", "--log-level=warn")
	waitFor(t, "etcd", time.Minute, func() error {
		if done, err := p.exited(); done {
			return fatalError{fmt.Errorf("etcd exited: %v\n%s", err, p.logTail(3000))}
		}
		return httpOK(t.Context(), http.DefaultClient, client+"/health")
	})
	return client
}

func (cp *controlPlane) startAPIServer(t *testing.T, etcdURL string) {
	t.Helper()
	port := freePort(t)
	cp.server = fmt.Sprintf("https://127.0.0.1:%d", port)
	cp.token = randomHex(t, 24)
	tokens := filepath.Join(cp.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(cp.token+",admin,admin,system:masters\n"), 0o600); err != nil {
		fatal(t, err)
	}
	writeServiceAccountKey(t, cp.dir)
	pki := filepath.Join(cp.dir, "pki")
	cp.caFile = filepath.Join(pki, "apiserver.crt")
	p := cp.start(t, "kube-apiserver", filepath.Join(cp.kubeDir, "kube-apiserver"),
		"--etcd-servers="+etcdURL, "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port), "--cert-dir="+pki, "--token-auth-file="+tokens,
		"--authorization-mode=Node,RBAC", "--service-cluster-ip-range=10.96.0.0/16", "--allow-privileged=true",
		// On loopback the API server refuses to manage the kubernetes
		// Service's endpoints.
		"--endpoint-reconciler-type=none",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+filepath.Join(cp.dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(cp.dir, "sa.key"))
	waitFor(t, "kube-apiserver", 2*time.Minute, func() error {
		if done, err := p.exited(); done {
			return fatalError{fmt.Errorf("kube-apiserver exited: %v\n%s", err, p.logTail(3000))}
		}
		if _, err := os.Stat(cp.caFile); err != nil {
			return err
		}
		return cp.readyz(t)
	})
	cp.kubeconfig = filepath.Join(cp.dir, "admin.kubeconfig")
	cp.writeKubeconfig(t, cp.kubeconfig, "", nil)
	cfg, err := clientcmd.BuildConfigFromFlags("", cp.kubeconfig)
	if err != nil {
		fatal(t, err)
	}
	cfg.QPS, cfg.Burst = 100, 200
	cp.cfg = cfg
	if cp.client, err = client.New(cfg, client.Options{Scheme: controllers.NewScheme()}); err != nil {
		fatal(t, err)
	}
}

// readyz asks the API server whether it is ready.
func (cp *controlPlane) readyz(t *testing.T) error {
	pem, err := os.ReadFile(cp.caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, cp.server+"/readyz", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cp.token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}

// writeKubeconfig writes a kubeconfig with the admin's token that, when
// as is set, impersonates that user and groups.
func (cp *controlPlane) writeKubeconfig(t testing.TB, path, as string, groups []string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cp.server, CertificateAuthority: cp.caFile}
	cfg.AuthInfos["e2e"] = &clientcmdapi.AuthInfo{Token: cp.token, Impersonate: as, ImpersonateGroups: groups}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "e2e"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		fatal(t, err)
	}
}

// addNode creates a fake node that kwok manages and waits until it is
// Ready.
func (cp *controlPlane) addNode(t *testing.T, name string) {
	t.Helper()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods: resource.MustParse("110"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name,
			Annotations: map[string]string{kwokAnnotation: kwokValue},
			Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "type": "kwok"}},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	if err := cp.client.Create(t.Context(), node); err != nil {
		fatalf(t, "create node %s: %v", name, err)
	}
	waitFor(t, "node "+name+" Ready", time.Minute, func() error {
		var n corev1.Node
		if err := cp.client.Get(t.Context(), client.ObjectKey{Name: name}, &n); err != nil {
			return err
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("node %s not Ready: %v", name, n.Status.Conditions)
	})
}

// kubectl runs kubectl as the admin and returns its standard output.
func (cp *controlPlane) kubectl(t testing.TB, args ...string) (string, error) {
	t.Helper()
	return runCmd(t.Context(), append(os.Environ(), "KUBECONFIG="+cp.kubeconfig), filepath.Join(cp.kubeDir, "kubectl"), args...)
}

// mustKubectl is kubectl that fails the test on an error.
func (cp *controlPlane) mustKubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := cp.kubectl(t, args...)
	if err != nil {
		fatal(t, err)
	}
	return out
}

// writeServiceAccountKey writes the RSA key pair that signs service
// account tokens (sa.key, sa.pub).
func writeServiceAccountKey(t testing.TB, dir string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		fatal(t, err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		fatal(t, err)
	}
	files := map[string]*pem.Block{
		"sa.key": {Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)},
		"sa.pub": {Type: "PUBLIC KEY", Bytes: pub},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			fatal(t, err)
		}
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		fatal(t, err)
	}
	return hex.EncodeToString(b)
}
