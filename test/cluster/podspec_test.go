package cluster

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// This file turns a pod's container into a process on this machine: its
// environment (Secrets, ConfigMaps and the downward API resolved), its
// paths (volume mounts mapped to folders of the node) and its ports (each
// container port mapped to a free port of 127.0.0.1). The functions are
// pure and table-tested in podspec_unit_test.go, which runs in `make test`.

// errUnsupported marks a pod feature the test's kubelet does not play.
var errUnsupported = errors.New("not supported by the test's kubelet")

// objectSource gives the Secrets and ConfigMaps a container's environment
// refers to.
type objectSource interface {
	secret(namespace, name string) (map[string][]byte, error)
	configMap(namespace, name string) (map[string]string, error)
}

// containerEnv resolves a container's environment as the kubelet does:
// envFrom first, then env in order, $(VAR) references expanded against
// the variables defined before.
func containerEnv(pod *corev1.Pod, c *corev1.Container, src objectSource) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, ef := range c.EnvFrom {
		if err := envFrom(pod, ef, src, set); err != nil {
			return nil, err
		}
	}
	for _, e := range c.Env {
		v, ok, err := envValue(pod, e, src, vals)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

func envFrom(pod *corev1.Pod, ef corev1.EnvFromSource, src objectSource, set func(k, v string)) error {
	switch {
	case ef.SecretRef != nil:
		data, err := src.secret(pod.Namespace, ef.SecretRef.Name)
		if err != nil {
			if optional(ef.SecretRef.Optional) {
				return nil
			}
			return fmt.Errorf("envFrom secret %s: %w", ef.SecretRef.Name, err)
		}
		for _, k := range sortedKeys(data) {
			set(ef.Prefix+k, string(data[k]))
		}
	case ef.ConfigMapRef != nil:
		data, err := src.configMap(pod.Namespace, ef.ConfigMapRef.Name)
		if err != nil {
			if optional(ef.ConfigMapRef.Optional) {
				return nil
			}
			return fmt.Errorf("envFrom configmap %s: %w", ef.ConfigMapRef.Name, err)
		}
		for _, k := range sortedKeys(data) {
			set(ef.Prefix+k, data[k])
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func optional(b *bool) bool { return b != nil && *b }

// envValue is one variable's value; ok is false when an optional source
// is missing (the variable is then not set).
func envValue(pod *corev1.Pod, e corev1.EnvVar, src objectSource, defined map[string]string) (v string, ok bool, err error) {
	from := e.ValueFrom
	switch {
	case from == nil:
		return expandVars(e.Value, defined), true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		data, err := src.secret(pod.Namespace, ref.Name)
		if err == nil {
			if b, found := data[ref.Key]; found {
				return string(b), true, nil
			}
			err = fmt.Errorf("secret %s has no key %s", ref.Name, ref.Key)
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		data, err := src.configMap(pod.Namespace, ref.Name)
		if err == nil {
			if s, found := data[ref.Key]; found {
				return s, true, nil
			}
			err = fmt.Errorf("configmap %s has no key %s", ref.Name, ref.Key)
		}
		if optional(ref.Optional) {
			return "", false, nil
		}
		return "", false, err
	case from.FieldRef != nil:
		v, err := fieldValue(pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	default:
		return "", false, fmt.Errorf("resourceFieldRef: %w", errUnsupported)
	}
}

var mapField = regexp.MustCompile(`^metadata\.(labels|annotations)\['([^']+)'\]$`)

// fieldValue is a downward API field of the pod.
func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	}
	if m := mapField.FindStringSubmatch(path); m != nil {
		if m[1] == "labels" {
			return pod.Labels[m[2]], nil
		}
		return pod.Annotations[m[2]], nil
	}
	return "", fmt.Errorf("fieldRef %s: %w", path, errUnsupported)
}

// expandVars expands $(NAME) with the defined variables, as Kubernetes
// does in env values, commands and arguments: $$ is a literal $, and a
// reference to an undefined variable stays as it is.
func expandVars(s string, defined map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(':
			if end := strings.IndexByte(s[i+2:], ')'); end >= 0 {
				name := s[i+2 : i+2+end]
				if v, ok := defined[name]; ok {
					b.WriteString(v)
					i += 2 + end
					continue
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// pathMap maps the mount paths inside a container to folders on this
// machine, longest mount path first.
type pathMap []struct{ inside, outside string }

// containerPaths maps each volume mount of the container: a hostPath
// volume to nodeRoot+path, an emptyDir to podDir/volumes/NAME.
func containerPaths(pod *corev1.Pod, c *corev1.Container, nodeRoot, podDir string) (pathMap, error) {
	var m pathMap
	for _, vm := range c.VolumeMounts {
		i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == vm.Name })
		if i < 0 {
			return nil, fmt.Errorf("volume mount %s: no such volume", vm.Name)
		}
		v := pod.Spec.Volumes[i]
		var outside string
		switch {
		case v.HostPath != nil:
			outside = filepath.Join(nodeRoot, v.HostPath.Path)
		case v.EmptyDir != nil:
			outside = filepath.Join(podDir, "volumes", v.Name)
		default:
			return nil, fmt.Errorf("volume %s: only hostPath and emptyDir are %w", v.Name, errUnsupported)
		}
		m = append(m, struct{ inside, outside string }{filepath.Clean(vm.MountPath), filepath.Join(outside, vm.SubPath)})
	}
	slices.SortFunc(m, func(a, b struct{ inside, outside string }) int { return len(b.inside) - len(a.inside) })
	return m, nil
}

// rewrite replaces a path inside a mount, at the start of s or after an
// '=' (--flag=/path), by the folder it maps to.
func (m pathMap) rewrite(s string) string {
	for _, p := range m {
		for _, start := range []int{0, strings.IndexByte(s, '=') + 1} {
			rest := s[start:]
			if !strings.HasPrefix(rest, p.inside) {
				continue
			}
			after := rest[len(p.inside):]
			if after == "" || after[0] == '/' {
				return s[:start] + p.outside + after
			}
		}
	}
	return s
}

// portMap maps container ports to ports of 127.0.0.1.
type portMap map[int32]int

// rewrite replaces a listen address of a mapped port that ends s, alone
// or after an '=' (":8081", "--health-addr=0.0.0.0:8081"), by
// 127.0.0.1:HOSTPORT.
func (m portMap) rewrite(s string) string {
	start := strings.IndexByte(s, '=') + 1
	addr := s[start:]
	colon := strings.LastIndexByte(addr, ':')
	if colon < 0 || strings.ContainsAny(addr, "/") {
		return s
	}
	port, err := strconv.ParseInt(addr[colon+1:], 10, 32)
	if err != nil {
		return s
	}
	host, ok := m[int32(port)]
	if !ok {
		return s
	}
	return s[:start] + "127.0.0.1:" + strconv.Itoa(host)
}

// probePort is the host port a probe's port (a number or a container
// port's name) maps to.
func probePort(c *corev1.Container, ports portMap, p *corev1.HTTPGetAction) (int, error) {
	n := p.Port.IntVal
	if p.Port.StrVal != "" {
		i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.Port.StrVal })
		if i < 0 {
			return 0, fmt.Errorf("probe port %q: no such container port", p.Port.StrVal)
		}
		n = c.Ports[i].ContainerPort
	}
	host, ok := ports[n]
	if !ok {
		return 0, fmt.Errorf("probe port %d is not a container port: %w", n, errUnsupported)
	}
	return host, nil
}
