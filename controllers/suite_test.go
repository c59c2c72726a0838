package controllers

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
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

// envtestAssets is the folder with etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS when set, else what hack/envtest.sh finds already
// built (it never builds here: `make envtest-assets` does).
func envtestAssets() (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join("..", "hack", "envtest.sh"), "assets", "--no-build")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

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

func serviceAccountUser(ns, name string) string { return "system:serviceaccount:" + ns + ":" + name }

// decodeFile decodes the objects of a YAML file (documents separated by
// ---) with the operator's scheme.
func decodeFile(path string) ([]client.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := serializer.NewCodecFactory(NewScheme()).UniversalDeserializer()
	var out []client.Object
	for _, doc := range strings.Split(string(data), "\n---") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		obj, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode %s: %w", path, err)
		}
		co, ok := obj.(client.Object)
		if !ok {
			return nil, fmt.Errorf("%s: %T is not an object", path, obj)
		}
		out = append(out, co)
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// needEnv skips a test when the API server is not available.
func needEnv(t *testing.T) {
	t.Helper()
	if envSkip != "" {
		t.Skip(envSkip)
	}
}

// testNamespace creates a namespace for one test.
func testNamespace(t *testing.T) string {
	t.Helper()
	ns := "t-" + rand.String(8)
	if err := admin.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

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
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var errNotYet = errors.New("not yet")
