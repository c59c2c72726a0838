package controllers

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/whycache/whycache/internal/kubetest"
)

// The envtest suite: one kube-apiserver and etcd for the package, with the
// generated CRD and the generated RBAC role loaded. Every reconcile in the
// tests runs as the operator's ServiceAccount (by impersonation), bound to
// exactly the generated roles, never as cluster-admin.
var (
	// envSkip says why the envtest tests skip ("" when the API server runs).
	envSkip string
	// adminCfg and admin act as cluster-admin: they set up fixtures and
	// play the parts of the controllers that envtest lacks (the DaemonSet
	// and Job controllers, the kubelet).
	adminCfg *rest.Config
	admin    client.Client
	// operatorCfg impersonates the operator's ServiceAccount.
	operatorCfg *rest.Config
)

const (
	operatorNamespace = "whycache-system"
	operatorSA        = "whycache-operator"
	testImage         = "whycache:test"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Verbose() {
		logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets, err := envtestAssets()
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "envtest assets are missing (CI=true makes this an error):", err)
			return 1
		}
		envSkip = "envtest assets missing (run `make envtest-assets`, or set KUBEBUILDER_ASSETS): " + err.Error()
		fmt.Fprintln(os.Stderr, "controllers: skipping the envtest tests:", envSkip)
		return m.Run()
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	adminCfg, err = env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}()
	if err := setUpOperatorIdentity(); err != nil {
		fmt.Fprintln(os.Stderr, "set up the operator's identity:", err)
		return 1
	}
	return m.Run()
}

// envtestAssets is the folder with etcd and kube-apiserver (see
// kubetest.Assets).
func envtestAssets() (string, error) { return kubetest.Assets("..") }

// setUpOperatorIdentity creates the operator's namespace and
// ServiceAccount, applies config/rbac (the generated ClusterRole and the
// hand-written bindings), and makes operatorCfg impersonate it.
func setUpOperatorIdentity() error {
	var err error
	if admin, err = client.New(adminCfg, client.Options{Scheme: NewScheme()}); err != nil {
		return err
	}
	ctx := context.Background()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	for _, f := range []string{"service_account.yaml", "role.yaml", "role_binding.yaml", "leader_election_role.yaml", "leader_election_role_binding.yaml"} {
		objs, err := decodeFile(filepath.Join("..", "config", "rbac", f))
		if err != nil {
			return err
		}
		for _, o := range objs {
			if err := admin.Create(ctx, o); err != nil {
				return fmt.Errorf("create %s from %s: %w", o.GetName(), f, err)
			}
		}
	}
	operatorCfg = rest.CopyConfig(adminCfg)
	operatorCfg.Impersonate = rest.ImpersonationConfig{UserName: serviceAccountUser(operatorNamespace, operatorSA)}
	return nil
}

func serviceAccountUser(ns, name string) string { return kubetest.ServiceAccountUser(ns, name) }

// decodeFile decodes the objects of a YAML file with the operator's scheme.
func decodeFile(path string) ([]client.Object, error) { return kubetest.DecodeFile(path, NewScheme()) }

// needEnv skips a test when the API server is not available.
func needEnv(t *testing.T) {
	t.Helper()
	if envSkip != "" {
		t.Skip(envSkip)
	}
}

// testNamespace creates a namespace for one test.
func testNamespace(t *testing.T) string { return kubetest.Namespace(t, admin) }

// testReconciler is a Reconciler that talks to the API server as the
// operator's ServiceAccount (no cache: every read is checked by RBAC too),
// with a fake clock and a recorder the test can read.
type testReconciler struct {
	*Reconciler
	clock  *clocktesting.FakePassiveClock
	events *events.FakeRecorder
}

func newTestReconciler(t *testing.T, now time.Time) *testReconciler {
	t.Helper()
	c, err := client.NewWithWatch(operatorCfg, client.Options{Scheme: NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	clk := clocktesting.NewFakePassiveClock(now)
	rec := events.NewFakeRecorder(100)
	return &testReconciler{
		Reconciler: &Reconciler{Client: c, APIReader: c, Recorder: rec, Clock: clk, AgentImage: testImage,
			StorePollInterval: 30 * time.Second, StoreTimeout: 5 * time.Second},
		clock: clk, events: rec,
	}
}

// drainEvents returns the events recorded so far.
func (r *testReconciler) drainEvents() []string {
	var out []string
	for {
		select {
		case e := <-r.events.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	kubetest.Eventually(t, timeout, f)
}

var errNotYet = kubetest.ErrNotYet
