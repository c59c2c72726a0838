package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const clusterRole = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: whycache-operator
rules:
- apiGroups:
  - ""
  resources:
  - pods
  verbs:
  - list
`

const role = `---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: whycache-operator
  namespace: whycache-system
rules:
- apiGroups:
  - ""
  resources:
  - secrets
  verbs:
  - get
`

func TestSplitRules(t *testing.T) {
	tests := []struct {
		name                string
		in                  string
		cluster, namespaced int
		err                 error
	}{
		{name: "cluster role only", in: clusterRole, cluster: 1},
		{name: "cluster role and role", in: clusterRole + role, cluster: 1, namespaced: 1},
		{name: "no cluster role", in: role, err: errRoles},
		{name: "two roles", in: clusterRole + role + role, err: errRoles},
		{name: "another kind", in: clusterRole + "---\nkind: Secret\n", err: errRoles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := splitRules([]byte(tt.in))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err == nil && (len(r.cluster) != tt.cluster || len(r.namespaced) != tt.namespaced) {
				t.Fatalf("%d cluster and %d namespaced rules, want %d and %d", len(r.cluster), len(r.namespaced), tt.cluster, tt.namespaced)
			}
		})
	}
	if _, err := splitRules([]byte("kind: [")); err == nil {
		t.Fatal("parsed broken YAML")
	}
}

// TestRun checks the files chartgen writes: the CRDs byte for byte (and a
// stale one removed), the rules as YAML lists, "[]" without a Role.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	config, chart := filepath.Join(dir, "config"), filepath.Join(dir, "chart")
	write(t, filepath.Join(config, "crd", "bases", "a.yaml"), "kind: CustomResourceDefinition\n")
	write(t, filepath.Join(config, "rbac", "role.yaml"), clusterRole)
	write(t, filepath.Join(chart, "crds", "stale.yaml"), "old\n")
	if err := run(config, chart); err != nil {
		t.Fatal(err)
	}
	if got := read(t, filepath.Join(chart, "crds", "a.yaml")); got != "kind: CustomResourceDefinition\n" {
		t.Errorf("CRD copied as %q", got)
	}
	if _, err := os.Stat(filepath.Join(chart, "crds", "stale.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a CRD no longer generated stays in the chart (stat: %v)", err)
	}
	got := read(t, filepath.Join(chart, "files", "rbac", "clusterrole-rules.yaml"))
	if want := "- apiGroups:\n  - \"\"\n  resources:\n  - pods\n  verbs:\n  - list\n"; !strings.HasSuffix(got, want) || !strings.HasPrefix(got, "# Generated") {
		t.Errorf("cluster rules:\n%s\nwant the header and\n%s", got, want)
	}
	if got := read(t, filepath.Join(chart, "files", "rbac", "role-rules.yaml")); !strings.HasSuffix(got, "\n[]\n") {
		t.Errorf("namespaced rules without a Role: %q, want []", got)
	}
	if err := run(filepath.Join(dir, "missing"), chart); err == nil || !strings.Contains(err.Error(), "no generated CRDs") {
		t.Errorf("a config folder without CRDs: %v", err)
	}
}

func FuzzSplitRules(f *testing.F) {
	f.Add([]byte(clusterRole + role))
	f.Add([]byte("---\n---\nkind: Role\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := splitRules(b)
		if err != nil {
			return
		}
		// What is accepted is written as a YAML list that the chart's
		// template includes: it must read back as the same rules.
		for _, rules := range [][]any{r.cluster, r.namespaced} {
			path := filepath.Join(t.TempDir(), "rules.yaml")
			if err := writeRules(path, "x", rules); err != nil {
				t.Fatal(err)
			}
			var back []any
			if err := yaml.Unmarshal([]byte(read(t, path)), &back); err != nil {
				t.Fatalf("written rules do not parse: %v", err)
			}
			if len(back) != len(rules) {
				t.Fatalf("wrote %d rules, read back %d", len(rules), len(back))
			}
		}
	})
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
