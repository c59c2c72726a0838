package chart

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// kubeVersion is the Kubernetes version helm renders for (a helm built from
// source reports v1.20 otherwise).
const kubeVersion = "1.37.2"

// objects are the rendered objects by "Kind/name".
type objects map[string]*unstructured.Unstructured

// TestChartAgreesWithKustomize renders the chart with its default values
// and config/default, and compares what both install.
func TestChartAgreesWithKustomize(t *testing.T) {
	helm := render(t, tool(t, "helm", "helm"), "template", "whycache", "charts/whycache",
		"--namespace", "whycache-system", "--include-crds", "--kube-version", kubeVersion)
	kust := render(t, tool(t, "kube", "kubectl"), "kustomize", "config/default")

	for key := range kust {
		if _, ok := helm[key]; !ok && key != "Namespace/whycache-system" {
			t.Errorf("config/default makes %s, the chart does not", key)
		}
	}
	for key, k := range kust {
		h, ok := helm[key]
		if !ok {
			continue
		}
		if k.GetNamespace() != h.GetNamespace() {
			t.Errorf("%s: namespace %q in config/default, %q in the chart", key, k.GetNamespace(), h.GetNamespace())
		}
		for _, f := range essentials(k.GetKind()) {
			kv, _, _ := unstructured.NestedFieldNoCopy(k.Object, f...)
			hv, _, _ := unstructured.NestedFieldNoCopy(h.Object, f...)
			if !equality.Semantic.DeepEqual(kv, hv) {
				t.Errorf("%s %s differs:\nconfig/default: %v\nchart:          %v", key, strings.Join(f, "."), kv, hv)
			}
		}
	}
	compareManager(t, kust["Deployment/whycache-operator"], helm["Deployment/whycache-operator"])
}

// essentials are the fields of a kind that must be the same in both.
func essentials(kind string) [][]string {
	switch kind {
	case "ClusterRole", "Role":
		return [][]string{{"rules"}}
	case "ClusterRoleBinding", "RoleBinding":
		return [][]string{{"roleRef"}, {"subjects"}}
	case "CustomResourceDefinition":
		return [][]string{{"spec"}}
	case "Service":
		return [][]string{{"spec", "selector"}, {"spec", "ports"}}
	case "MutatingWebhookConfiguration":
		return [][]string{{"webhooks"}}
	case "Deployment":
		return [][]string{{"spec", "selector"}, {"spec", "template", "spec", "serviceAccountName"},
			{"spec", "template", "spec", "securityContext", "runAsNonRoot"},
			{"spec", "template", "spec", "securityContext", "seccompProfile"},
			{"spec", "template", "spec", "volumes"}}
	}
	return nil
}

// compareManager compares the manager containers: flags (but the image
// and the log level, which the chart takes from its values), command,
// ports, mounts, probes, security context and environment variable names.
func compareManager(t *testing.T, k, h *unstructured.Unstructured) {
	t.Helper()
	if k == nil || h == nil {
		t.Fatal("a Deployment whycache-operator is missing")
	}
	kc, hc := manager(t, k), manager(t, h)
	kf, hf := flags(t, kc["args"]), flags(t, hc["args"])
	for _, f := range []string{"--agent-image", "--zap-log-level"} {
		delete(kf, f)
		delete(hf, f)
	}
	if !equality.Semantic.DeepEqual(kf, hf) {
		t.Errorf("manager flags differ:\nconfig/default: %v\nchart:          %v", kf, hf)
	}
	for _, f := range []string{"command", "ports", "volumeMounts", "livenessProbe", "readinessProbe", "securityContext"} {
		if !equality.Semantic.DeepEqual(kc[f], hc[f]) {
			t.Errorf("manager %s differs:\nconfig/default: %v\nchart:          %v", f, kc[f], hc[f])
		}
	}
	if kn, hn := envNames(kc), envNames(hc); !slices.Equal(kn, hn) {
		t.Errorf("manager environment differs: config/default %v, chart %v", kn, hn)
	}
}

// manager returns the Deployment's container "manager".
func manager(t *testing.T, d *unstructured.Unstructured) map[string]any {
	t.Helper()
	cs, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
	for _, c := range cs {
		if m, ok := c.(map[string]any); ok && m["name"] == "manager" {
			return m
		}
	}
	t.Fatalf("Deployment %s has no container manager", d.GetName())
	return nil
}

// flags parses "--name=value" and "--name" (true) arguments.
func flags(t *testing.T, args any) map[string]string {
	t.Helper()
	list, _ := args.([]any)
	out := map[string]string{}
	for _, a := range list {
		s := fmt.Sprint(a)
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			value = "true"
		}
		if _, dup := out[name]; dup {
			t.Errorf("flag %s given twice", name)
		}
		out[name] = value
	}
	return out
}

func envNames(c map[string]any) []string {
	list, _ := c["env"].([]any)
	var names []string
	for _, e := range list {
		if m, ok := e.(map[string]any); ok {
			names = append(names, fmt.Sprint(m["name"]))
		}
	}
	slices.Sort(names)
	return names
}

// tool returns the path of a binary of a hack/tools.sh tool (built once,
// cached outside the repository).
func tool(t *testing.T, name, bin string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command("bash", "hack/tools.sh", "dir", name)
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo(t), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/tools.sh dir %s: %v\n%s", name, err, errOut.Bytes())
	}
	return filepath.Join(strings.TrimSpace(out.String()), bin)
}

// render runs a renderer in the repository and parses its YAML stream.
func render(t *testing.T, bin string, args ...string) objects {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo(t), &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, errOut.Bytes())
	}
	objs, err := parse(out.Bytes())
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return objs
}

// parse reads a YAML stream of objects.
func parse(b []byte) (objects, error) {
	out := objects{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("parse: %w", err)
		}
		if m == nil {
			continue
		}
		u := &unstructured.Unstructured{Object: m}
		key := u.GetKind() + "/" + u.GetName()
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("%s twice", key)
		}
		out[key] = u
	}
}

func repo(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(p, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return p
}
