package cluster

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// These tests of the kubelet's pure parts run in `make test` too.

type fakeSource struct {
	secrets map[string]map[string][]byte
	cms     map[string]map[string]string
}

var errNotFound = errors.New("not found")

func (f fakeSource) secret(ns, name string) (map[string][]byte, error) {
	if d, ok := f.secrets[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("secret %s/%s: %w", ns, name, errNotFound)
}

func (f fakeSource) configMap(ns, name string) (map[string]string, error) {
	if d, ok := f.cms[ns+"/"+name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, errNotFound)
}

func TestContainerEnv(t *testing.T) {
	src := fakeSource{
		secrets: map[string]map[string][]byte{"apps/store": {"url": []byte("mysql://u:p@h/db")}, "apps/s3": {"B": []byte("2"), "A": []byte("1")}},
		cms:     map[string]map[string]string{"apps/cfg": {"level": "debug"}},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "apps", Labels: map[string]string{"app": "x"}},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
	}
	secretKey := func(name, key string, opt bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: ptr.To(opt)}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    []string
		wantErr bool
	}{
		{name: "plain and expanded values",
			c:    corev1.Container{Env: []corev1.EnvVar{{Name: "A", Value: "x"}, {Name: "B", Value: "$(A)-$(NONE)-$$(A)"}}},
			want: []string{"A=x", "B=x-$(NONE)-$(A)"}},
		{name: "secret, configmap and downward API",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "STORE", ValueFrom: secretKey("store", "url", false)},
				{Name: "LEVEL", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "level"}}},
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
			}},
			want: []string{"STORE=mysql://u:p@h/db", "LEVEL=debug", "NODE=node-a", "APP=x"}},
		{name: "envFrom in key order with a prefix, env overrides",
			c: corev1.Container{EnvFrom: []corev1.EnvFromSource{{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "s3"}}}},
				Env: []corev1.EnvVar{{Name: "S_A", Value: "over"}}},
			want: []string{"S_A=over", "S_B=2"}},
		{name: "a missing optional key is left out",
			c:    corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretKey("store", "nope", true)}}},
			want: []string{}},
		{name: "a missing required key is an error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretKey("store", "nope", false)}}},
			wantErr: true},
		{name: "a missing secret is an error",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: secretKey("gone", "url", false)}}},
			wantErr: true},
		{name: "resource fields are not played",
			c: corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
				ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory"}}}}},
			wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := containerEnv(pod, &tc.c, src)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPathMapRewrite(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Volumes: []corev1.Volume{
		{Name: "dir", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib/whycache/apps/f"}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "base", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/lib"}}},
	}}}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "base", MountPath: "/var/lib"}, {Name: "dir", MountPath: "/var/lib/whycache/apps/f"}, {Name: "tmp", MountPath: "/tmp"},
	}}
	m, err := containerPaths(pod, c, "/n/node-a", "/n/node-a/pods/p")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ in, want string }{
		{"--dir=/var/lib/whycache/apps/f", "--dir=/n/node-a/var/lib/whycache/apps/f"},
		{"/var/lib/whycache/apps/f/x.sock", "/n/node-a/var/lib/whycache/apps/f/x.sock"},
		{"/var/lib/other", "/n/node-a/var/lib/other"},
		{"/tmp", "/n/node-a/pods/p/volumes/tmp"},
		{"--temp=/tmpfoo", "--temp=/tmpfoo"},
		{"TMPDIR", "TMPDIR"},
		{"--x=y=/tmp", "--x=y=/tmp"},
		{"/usr/tmp", "/usr/tmp"},
	} {
		if got := m.rewrite(tc.in); got != tc.want {
			t.Errorf("rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	bad := &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "missing", MountPath: "/x"}}}
	if _, err := containerPaths(pod, bad, "/n", "/p"); err == nil {
		t.Error("a mount of a missing volume: no error")
	}
}

func TestPortMapRewrite(t *testing.T) {
	m := portMap{8081: 40001}
	for _, tc := range []struct{ in, want string }{
		{"--health-addr=:8081", "--health-addr=127.0.0.1:40001"},
		{"--health-addr=0.0.0.0:8081", "--health-addr=127.0.0.1:40001"},
		{":8081", "127.0.0.1:40001"},
		{"--health-addr=:8082", "--health-addr=:8082"},
		{"--url=http://h:8081", "--url=http://h:8081"},
		{"--n=8081", "--n=8081"},
		{"--x=:80811", "--x=:80811"},
	} {
		if got := m.rewrite(tc.in); got != tc.want {
			t.Errorf("rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProbePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "health", ContainerPort: 8081}}}
	m := portMap{8081: 40001}
	for _, tc := range []struct {
		port    intstr.IntOrString
		want    int
		wantErr bool
	}{
		{intstr.FromString("health"), 40001, false},
		{intstr.FromInt32(8081), 40001, false},
		{intstr.FromString("nope"), 0, true},
		{intstr.FromInt32(9000), 0, true},
	} {
		got, err := probePort(c, m, &corev1.HTTPGetAction{Port: tc.port})
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("probePort(%v) = %d, %v; want %d, error %v", tc.port.String(), got, err, tc.want, tc.wantErr)
		}
	}
}
