package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/whycache/whycache/internal/testcerts"
)

// The webhook's names (see CONTRACT.md and docs).
const (
	webhookConfigName = "whycache-mutating-webhook-configuration"
	labelInstanceRef  = "whycache.io/instance"
	injectedMountPath = "/var/run/whycache"
)

// checkInjection creates an application pod that asks for the instance's
// directory and checks, in the pod as the API server stored it, that the
// webhook added the read-only hostPath volume, the mount, WHYCACHE_DIR and
// the init container that waits for the node's agent.
func (s *scenario) checkInjection() {
	t := s.t
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.name + "-reader", Namespace: appNamespace,
			Labels:      map[string]string{labelInstanceRef: s.name},
			Annotations: map[string]string{"whycache.io/wait-ready": "true"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1", Command: []string{"app"}}}},
	}
	if err := s.cp.client.Create(t.Context(), pod); err != nil {
		fatalf(t, "create the application pod: %v", err)
	}
	// The pod Create returns is the pod as the API server stored it,
	// after the admission webhooks.
	onHost := "/var/lib/whycache/" + appNamespace + "/" + s.name
	if err := injected(pod, onHost); err != nil {
		fatalf(t, "the stored application pod: %v\n%+v", err, pod.Spec)
	}
	t.Logf("the webhook injected the read-only %s mount of %s into the application pod", injectedMountPath, onHost)
}

// injected checks what the webhook must have added to the pod.
func injected(pod *corev1.Pod, hostDir string) error {
	i := slices.IndexFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.HostPath != nil && v.HostPath.Path == hostDir
	})
	if i < 0 {
		return fmt.Errorf("no hostPath volume of %s", hostDir)
	}
	vol := pod.Spec.Volumes[i].Name
	if len(pod.Spec.InitContainers) == 0 || pod.Spec.InitContainers[0].Name != "whycache-wait-ready" {
		return fmt.Errorf("no first init container whycache-wait-ready (the pod asks for it)")
	}
	for _, c := range slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers) {
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

// webhookSetup is what the cluster does around the manager's webhook that
// the test must do itself here. The API server cannot reach the webhook's
// Service (no cluster DNS, no kube-proxy), so the webhook configuration
// points it at the manager's port on this machine instead, by a name its
// certificate holds, and the test plays the kubelet that mounts the
// certificate's Secret into the manager's certificate directory. Then:
//
//   - self (the default mode of config/default and the chart): the manager
//     makes the certificate (with localhost among its names, through
//     --webhook-cert-extra-dns-names), writes it into the Secret and the CA
//     into the configuration's caBundle; the configuration's URL is
//     https://localhost:PORT;
//   - external: the test plays cert-manager, issuing a certificate for the
//     Service's names and 127.0.0.1 into the Secret and putting its CA in
//     the caBundle; the URL is https://127.0.0.1:PORT.
type webhookSetup struct {
	self       bool
	port       int
	certDir    string
	secret     string
	configName string
}

// args rewrites the Deployment's webhook flags for a local process.
func (w webhookSetup) args(t *testing.T, in []string) []string {
	t.Helper()
	if mode := flagValue(in, "webhook-cert-mode", "self"); mode != "self" {
		fatalf(t, "the installation's webhook certificate mode is %q, want self (the default)", mode)
	}
	out := setFlag(in, "webhook-port", strconv.Itoa(w.port))
	out = setFlag(out, "webhook-host", "127.0.0.1")
	out = setFlag(out, "webhook-cert-dir", w.certDir)
	if w.self {
		return setFlag(out, "webhook-cert-extra-dns-names", "localhost")
	}
	return setFlag(out, "webhook-cert-mode", "external")
}

// setFlag sets --name=value in args, replacing the flag when it is there.
func setFlag(args []string, name, value string) []string {
	out := slices.Clone(args)
	for i, a := range out {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			out[i] = "--" + name + "=" + value
			return out
		}
	}
	return append(out, "--"+name+"="+value)
}

// flagValue is the value of --name=value in args, or def.
func flagValue(args []string, name, def string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return def
}

// prepare issues the certificate (external mode), mounts the Secret and
// points the webhook configuration at the manager's port.
func (w webhookSetup) prepare(t *testing.T, cp *controlPlane) {
	t.Helper()
	secret := client.ObjectKey{Namespace: operatorNamespace, Name: w.secret}
	host := "localhost"
	var ca []byte
	if !w.self {
		host = "127.0.0.1"
		var crt, key []byte
		ca, crt, key = issueCertificate(t, []string{
			"whycache-webhook-service", "whycache-webhook-service." + operatorNamespace,
			"whycache-webhook-service." + operatorNamespace + ".svc",
		}, []net.IP{net.IPv4(127, 0, 0, 1)})
		sec := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: secret.Name}}
		if _, err := controllerutil.CreateOrUpdate(t.Context(), cp.client, &sec, func() error {
			sec.Data = map[string][]byte{"ca.crt": ca, "tls.crt": crt, "tls.key": key}
			return nil
		}); err != nil {
			fatalf(t, "write the webhook's certificate Secret: %v", err)
		}
	}
	mountSecret(t, cp.client, secret, w.certDir)
	url := fmt.Sprintf("https://%s:%d", host, w.port)
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		return pointWebhook(t.Context(), cp.client, w.configName, url, ca)
	}); err != nil {
		fatalf(t, "point the webhook configuration at the manager: %v", err)
	}
}

// pointWebhook sets the URL of every webhook of the configuration (with
// the path its Service reference had) and, when ca is not nil, its
// caBundle; otherwise the caBundle stays (the manager keeps it).
func pointWebhook(ctx context.Context, c client.Client, name, base string, ca []byte) error {
	var wh admissionv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, client.ObjectKey{Name: name}, &wh); err != nil {
		return err
	}
	for i := range wh.Webhooks {
		cc := &wh.Webhooks[i].ClientConfig
		path := ""
		if cc.Service != nil && cc.Service.Path != nil {
			path = *cc.Service.Path
		}
		if cc.Service == nil && cc.URL != nil {
			continue // pointed already
		}
		url := base + path
		cc.Service, cc.URL = nil, &url
		if ca != nil {
			cc.CABundle = ca
		}
	}
	return c.Update(ctx, &wh)
}

// mountSecret plays the kubelet for a Secret volume: until the test ends,
// it writes the Secret's keys as files in dir, each replaced at once when
// the Secret changes.
func mountSecret(t *testing.T, c client.Client, key client.ObjectKey, dir string) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		fatal(t, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var sec corev1.Secret
			if err := c.Get(ctx, key, &sec); err == nil {
				for k, v := range sec.Data {
					if err := writeIfChanged(filepath.Join(dir, k), v); err != nil {
						errorf(t, "mount the Secret %s: %v", key, err)
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// writeIfChanged replaces path's content by b, by a rename, when it differs.
func writeIfChanged(path string, b []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, b) {
		return nil
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// issueCertificate makes a CA and a serving certificate for the names and
// addresses it signs, PEM-encoded.
func issueCertificate(t *testing.T, dns []string, ips []net.IP) (caPEM, certPEM, keyPEM []byte) {
	t.Helper()
	now := time.Now()
	ca, err := testcerts.NewCA("whycache-e2e-ca", now)
	if err != nil {
		fatal(t, err)
	}
	certPEM, keyPEM, err = ca.Issue(testcerts.Leaf{DNS: dns, IPs: ips, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)})
	if err != nil {
		fatal(t, err)
	}
	return ca.PEM, certPEM, keyPEM
}
