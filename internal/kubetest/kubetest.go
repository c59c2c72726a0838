// Package kubetest holds what the envtest suites of the operator's packages
// share: finding the etcd and kube-apiserver binaries, decoding the
// manifests of config/, and polling with a deadline.
package kubetest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// Assets is the folder with etcd and kube-apiserver: $KUBEBUILDER_ASSETS
// when set, else what hack/envtest.sh (under repoRoot) finds already built.
// It never builds: `make envtest-assets` does.
func Assets(repoRoot string) (string, error) {
	if d := os.Getenv("KUBEBUILDER_ASSETS"); d != "" {
		return d, nil
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", filepath.Join(repoRoot, "hack", "envtest.sh"), "assets", "--no-build")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// DecodeFile decodes the objects of a YAML file (documents separated by
// ---) with scheme.
func DecodeFile(path string, scheme *runtime.Scheme) ([]client.Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := serializer.NewCodecFactory(scheme).UniversalDeserializer()
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

// ErrNotYet is what a condition polled by Eventually returns while it does
// not hold yet.
var ErrNotYet = errors.New("not yet")

// Eventually polls f until it returns nil, and fails the test with f's
// last error when timeout passes first.
func Eventually(t testing.TB, timeout time.Duration, f func() error) {
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

// ServiceAccountUser is the user name of a ServiceAccount, for
// impersonation.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Namespace creates a namespace with a random name for one test, through c.
func Namespace(t testing.TB, c client.Client) string {
	t.Helper()
	ns := "t-" + rand.String(8)
	if err := c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	return ns
}

// CreateInstance creates, through c, an instance whose store URL is in
// Secret <name>-store, after mutate (when not nil) changes its spec.
func CreateInstance(t testing.TB, c client.Client, ns, name string, mutate func(*whycachev1.WhycacheInstance)) {
	t.Helper()
	inst := &whycachev1.WhycacheInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: whycachev1.WhycacheInstanceSpec{LogStore: whycachev1.LogStoreSpec{
			URLSecretRef: whycachev1.SecretKeyRef{Name: name + "-store"},
		}},
	}
	if mutate != nil {
		mutate(inst)
	}
	if err := c.Create(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
}
