package cluster

import (
	"fmt"
	"slices"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The webhook's names (see CONTRACT.md and docs).
const (
	webhookConfigName = "whycache-mutating-webhook-configuration"
	labelInstanceRef  = "whycache.io/instance"
	injectedMountPath = "/var/run/whycache"
)

// checkInjection creates an application pod that asks for the instance's
// directory and checks, in the pod as the API server stored it, that the
// webhook added the read-only hostPath volume, the mount and WHYCACHE_DIR.
func (s *scenario) checkInjection() {
	t := s.t
	var wh admissionv1.MutatingWebhookConfiguration
	err := s.cp.client.Get(t.Context(), client.ObjectKey{Name: webhookConfigName}, &wh)
	hasWebhook := err == nil
	if apierrors.IsNotFound(err) {
		// The installation has no webhook yet; the pod is still created,
		// and must be left alone.
		t.Logf("no %s installed: the injection is not checked", webhookConfigName)
	} else if err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "reader", Namespace: appNamespace,
			Labels: map[string]string{labelInstanceRef: instanceName}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Command: []string{"app"}}}},
	}
	if err := s.cp.client.Create(t.Context(), pod); err != nil {
		t.Fatalf("create the application pod: %v", err)
	}
	if hasWebhook {
		if err := injected(pod, instanceDirOnHost()); err != nil {
			t.Fatalf("the stored application pod: %v\n%+v", err, pod.Spec)
		}
		t.Logf("the webhook injected the read-only %s mount of %s into the application pod", injectedMountPath, instanceDirOnHost())
	}
}

// instanceDirOnHost is the instance's directory on a (real) node.
func instanceDirOnHost() string { return "/var/lib/whycache/" + appNamespace + "/" + instanceName }

// injected checks what the webhook must have added to the pod.
func injected(pod *corev1.Pod, hostDir string) error {
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.HostPath != nil && v.HostPath.Path == hostDir
	})
	if i < 0 {
		return fmt.Errorf("no hostPath volume of %s", hostDir)
	}
	vol := pod.Spec.Volumes[i].Name
	for _, c := range pod.Spec.Containers {
		j := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == vol })
		if j < 0 {
			return fmt.Errorf("container %s does not mount volume %s", c.Name, vol)
		}
		if m := c.VolumeMounts[j]; !m.ReadOnly || m.MountPath != injectedMountPath {
			return fmt.Errorf("container %s mounts %s at %s, read-only %v; want read-only at %s", c.Name, vol, m.MountPath, m.ReadOnly, injectedMountPath)
		}
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "WHYCACHE_DIR" && e.Value == injectedMountPath }) {
			return fmt.Errorf("container %s has no WHYCACHE_DIR=%s", c.Name, injectedMountPath)
		}
	}
	return nil
}
