package podinject

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/whycache/whycache/controllers"
	"github.com/whycache/whycache/internal/kubetest"
)

// The envtest suite: a real kube-apiserver that calls the webhook, with
// the generated CRD, the generated webhook configuration
// (config/webhook/manifests.yaml, its Service reference replaced by
// envtest with a URL on 127.0.0.1) and the operator's RBAC from
// config/rbac. The managers in the tests run as the operator's
// ServiceAccount, bound to exactly those roles.
var (
	envSkip     string
	env         *envtest.Environment
	admin       client.Client
	operatorCfg *rest.Config
)

const (
	repoRoot          = "../../.."
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
	assets, err := kubetest.Assets(repoRoot)
	if err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "envtest assets are missing (CI=true makes this an error):", err)
			return 1
		}
		envSkip = "envtest assets missing (run `make envtest-assets`, or set KUBEBUILDER_ASSETS): " + err.Error()
		fmt.Fprintln(os.Stderr, "podinject: skipping the envtest tests:", envSkip)
		return m.Run()
	}
	env = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			Paths: []string{filepath.Join(repoRoot, "config", "webhook", "manifests.yaml")},
			// The self-made certificate is for localhost too (a test
			// knob), not for an IP address.
			LocalServingHostExternalName: "localhost",
		},
	}
	adminCfg, err := env.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "start envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop envtest:", err)
		}
	}()
	if err := setUpOperatorIdentity(adminCfg); err != nil {
		fmt.Fprintln(os.Stderr, "set up the operator's identity:", err)
		return 1
	}
	return m.Run()
}

// setUpOperatorIdentity creates the operator's namespace, applies
// config/rbac, and makes operatorCfg impersonate the operator's
// ServiceAccount.
func setUpOperatorIdentity(adminCfg *rest.Config) error {
	var err error
	if admin, err = client.New(adminCfg, client.Options{Scheme: controllers.NewScheme()}); err != nil {
		return err
	}
	ctx := context.Background()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
		return err
	}
	for _, f := range []string{
		"rbac/service_account.yaml", "rbac/role.yaml", "rbac/role_binding.yaml", "rbac/namespaced_role_binding.yaml",
	} {
		objs, err := kubetest.DecodeFile(filepath.Join(repoRoot, "config", f), controllers.NewScheme())
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
	operatorCfg.Impersonate = rest.ImpersonationConfig{UserName: kubetest.ServiceAccountUser(operatorNamespace, operatorSA)}
	return nil
}

func needEnv(t *testing.T) {
	t.Helper()
	if envSkip != "" {
		t.Skip(envSkip)
	}
}

// testNamespace creates a namespace for one test.
func testNamespace(t *testing.T) string { return kubetest.Namespace(t, admin) }
