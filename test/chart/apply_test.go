package chart

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/whycache/whycache/internal/kubetest"
)

// TestAppliesToAPIServer applies config/default to a real kube-apiserver
// (server-side, as docs/install.md says), then the chart's objects for the
// value sets that need no other CRDs (a server-side dry run, forced over
// the kustomize installation's objects of the same names), so that every
// object of both validates against the API's schemas.
func TestAppliesToAPIServer(t *testing.T) {
	assets, err := kubetest.Assets(repo(t))
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("etcd and kube-apiserver: %v", err)
		}
		t.Skipf("etcd and kube-apiserver unavailable (make envtest-assets): %v", err)
	}
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	if _, err := env.Start(); err != nil {
		t.Fatalf("start the API server: %v", err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	admin, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl := tool(t, "kube", "kubectl")
	helm := tool(t, "helm", "helm")

	run(t, nil, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-k", "config/default")
	for _, values := range [][]string{
		nil,
		{"--set", "webhook.enabled=false", "--set", "replicaCount=1"},
	} {
		t.Run(strings.Join(append([]string{"chart"}, values...), " "), func(t *testing.T) {
			args := append([]string{"template", "whycache", "charts/whycache", "--namespace", "whycache-system",
				"--kube-version", kubeVersion}, values...)
			manifest := run(t, nil, helm, args...)
			run(t, manifest, kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side",
				"--dry-run=server", "--force-conflicts", "--field-manager=helm", "-f", "-")
		})
	}
}

// run runs a command in the repository, with stdin when given, and returns
// its output; a failure ends the test with its error output.
func run(t *testing.T, stdin []byte, bin string, args ...string) []byte {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo(t), &out, &errOut
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, errOut.Bytes())
	}
	return out.Bytes()
}
