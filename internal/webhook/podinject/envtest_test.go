package podinject

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/controllers"
	"github.com/whycache/whycache/internal/kubetest"
)

const (
	configName = "whycache-mutating-webhook-configuration"
	secretName = "whycache-webhook-server-cert"
)

// startManager runs a manager with the webhook alone (the reconciler's
// tests are in controllers), as the operator's ServiceAccount, until the
// test ends; probeAddr serves /readyz ("0": nowhere).
func startManager(t *testing.T, o Options, probeAddr string) {
	t.Helper()
	mgr, err := ctrl.NewManager(operatorCfg, ctrl.Options{
		Scheme: controllers.NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		t.Fatal(err)
	}
	o.Host, o.Port, o.DefaultImage = env.WebhookInstallOptions.LocalServingHost, env.WebhookInstallOptions.LocalServingPort, testImage
	if err := Setup(t.Context(), mgr, o); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
}

// waitServing waits until the webhook server accepts TLS connections.
func waitServing(t *testing.T) {
	t.Helper()
	addr := net.JoinHostPort(env.WebhookInstallOptions.LocalServingHost, strconv.Itoa(env.WebhookInstallOptions.LocalServingPort))
	kubetest.Eventually(t, 2*time.Minute, func() error {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // only whether it serves
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// setCABundle puts ca into the webhook configuration (as the rotator
// would, or as envtest did).
func setCABundle(t *testing.T, ca []byte) {
	t.Helper()
	var wc admissionregv1.MutatingWebhookConfiguration
	if err := admin.Get(t.Context(), types.NamespacedName{Name: configName}, &wc); err != nil {
		t.Fatal(err)
	}
	for i := range wc.Webhooks {
		wc.Webhooks[i].ClientConfig.CABundle = ca
	}
	if err := admin.Update(t.Context(), &wc); err != nil {
		t.Fatal(err)
	}
}

func createInstance(t *testing.T, ns, name string, f func(*whycachev1.WhycacheInstance)) {
	t.Helper()
	kubetest.CreateInstance(t, admin, ns, name, f)
}

func testPod(ns, name string, labels, annotations map[string]string, env ...corev1.EnvVar) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels, Annotations: annotations},
		Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: "app", Image: "app:1", Env: env},
			{Name: "sidecar", Image: "side:1"},
		}},
	}
}

// TestWebhookThroughTheAPIServer: the real API server calls the webhook
// (certificates from envtest, mounted late as cert-manager's would be: the
// external mode) and stores what it answered.
func TestWebhookThroughTheAPIServer(t *testing.T) {
	needEnv(t)
	setCABundle(t, env.WebhookInstallOptions.LocalServingCAData)
	certDir := t.TempDir()
	probeAddr := freeAddr(t)
	startManager(t, Options{CertDir: certDir, CertMode: CertModeExternal}, probeAddr)
	// No certificate yet: the manager waits, not ready, rather than fail.
	kubetest.Eventually(t, time.Minute, func() error {
		if code := getCode(t, "http://"+probeAddr+"/readyz"); code != http.StatusInternalServerError {
			return fmt.Errorf("%w: /readyz = %d", kubetest.ErrNotYet, code)
		}
		return nil
	})
	for _, k := range []string{"tls.crt", "tls.key"} {
		b, err := os.ReadFile(filepath.Join(env.WebhookInstallOptions.LocalServingCertDir, k))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, k), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitServing(t)
	ns := testNamespace(t)
	createInstance(t, ns, "flags", func(i *whycachev1.WhycacheInstance) { i.Spec.Agent.HostPathBase = "/mnt/cache" })
	dir := "/mnt/cache/" + ns + "/flags"
	label := map[string]string{LabelInstance: "flags"}

	for _, tc := range []struct {
		name      string
		pod       *corev1.Pod
		mounted   bool
		waitReady bool
		denied    string // the denial's message must hold this
	}{
		{name: "labelled", pod: testPod(ns, "labelled", label, nil), mounted: true},
		{name: "labelled, wait-ready", pod: testPod(ns, "wait", label, map[string]string{AnnotationWaitReady: "true"}), mounted: true, waitReady: true},
		{name: "not labelled", pod: testPod(ns, "plain", map[string]string{"app": "x"}, map[string]string{AnnotationWaitReady: "true"})},
		{name: "missing instance", pod: testPod(ns, "missing", map[string]string{LabelInstance: "nope"}, nil),
			denied: fmt.Sprintf(`namespace %q has no WhycacheInstance "nope"`, ns)},
		{name: "WHYCACHE_DIR of its own", pod: testPod(ns, "own-dir", label, nil, corev1.EnvVar{Name: EnvDir, Value: "/data"}),
			denied: `container "app" sets WHYCACHE_DIR to something else than /var/run/whycache`},
		{name: "bad annotation", pod: testPod(ns, "bad", label, map[string]string{AnnotationWaitReady: "sometimes"}),
			denied: `whycache.io/wait-ready="sometimes"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent := tc.pod.Spec.DeepCopy()
			err := admin.Create(t.Context(), tc.pod)
			if tc.denied != "" {
				if err == nil || !strings.Contains(err.Error(), `admission webhook "pods.whycache.io" denied the request`) || !strings.Contains(err.Error(), tc.denied) {
					t.Fatalf("create: %v, want a denial saying %q", err, tc.denied)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var stored corev1.Pod
			if err := admin.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: tc.pod.Name}, &stored); err != nil {
				t.Fatal(err)
			}
			if !tc.mounted {
				if hasVolume(&stored.Spec) || len(stored.Spec.InitContainers) != 0 || len(stored.Spec.Containers[0].Env) != len(sent.Containers[0].Env) {
					t.Fatalf("a pod without the label was changed: %+v", stored.Spec)
				}
				return
			}
			checkStoredPod(t, &stored, dir, tc.waitReady)
		})
	}
}

func hasVolume(s *corev1.PodSpec) bool {
	for _, v := range s.Volumes {
		if v.Name == VolumeName {
			return true
		}
	}
	return false
}

// checkStoredPod checks the injection in a pod as the API server stored it.
func checkStoredPod(t *testing.T, pod *corev1.Pod, dir string, waitReady bool) {
	t.Helper()
	var vol *corev1.Volume
	for i, v := range pod.Spec.Volumes {
		if v.Name == VolumeName {
			vol = &pod.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.HostPath == nil || vol.HostPath.Path != dir || *vol.HostPath.Type != corev1.HostPathDirectory {
		t.Fatalf("volume %+v, want hostPath %s (Directory)", vol, dir)
	}
	cs := pod.Spec.Containers
	if waitReady {
		if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Name != WaitReadyContainerName || pod.Spec.InitContainers[0].Image != testImage {
			t.Fatalf("init containers %+v, want %s with image %s", pod.Spec.InitContainers, WaitReadyContainerName, testImage)
		}
		cs = append(cs, pod.Spec.InitContainers...)
	} else if len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("init containers %+v, want none", pod.Spec.InitContainers)
	}
	for _, c := range cs {
		n := 0
		for _, m := range c.VolumeMounts {
			if m.MountPath == MountPath && m.Name == VolumeName && m.ReadOnly {
				n++
			}
		}
		e := 0
		for _, v := range c.Env {
			if v.Name == EnvDir && v.Value == MountPath {
				e++
			}
		}
		if n != 1 || e != 1 {
			t.Errorf("container %s: mounts %+v env %+v, want one read-only mount and %s", c.Name, c.VolumeMounts, c.Env, EnvDir)
		}
	}
}

// TestSelfMadeCertificate runs the self mode against the API server: the
// manager fills the certificate Secret, puts its CA in the webhook
// configuration, serves with the certificate once it is in the
// certificate directory, and the API server's calls go through.
func TestSelfMadeCertificate(t *testing.T) {
	needEnv(t)
	// envtest's CA, which does not sign the self-made certificate: the
	// manager must replace it.
	setCABundle(t, env.WebhookInstallOptions.LocalServingCAData)
	// No Secret yet (config/webhook ships an empty one; without it, the
	// manager makes it).
	key := types.NamespacedName{Namespace: operatorNamespace, Name: secretName}
	if err := admin.Get(t.Context(), key, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Fatalf("the certificate Secret before the manager starts: %v, want none", err)
	}
	certDir := t.TempDir()
	probeAddr := freeAddr(t)
	startManager(t, Options{
		CertDir: certDir, CertMode: CertModeSelf, SecretName: secretName, SecretNamespace: operatorNamespace,
		ConfigName: configName, ServiceName: "whycache-webhook-service", ExtraDNSNames: []string{"localhost"},
	}, probeAddr)

	// Play the kubelet: the Secret's files appear in the mounted directory.
	var secret corev1.Secret
	kubetest.Eventually(t, 2*time.Minute, func() error {
		if err := admin.Get(t.Context(), key, &secret); err != nil {
			return err
		}
		if len(secret.Data["tls.crt"]) == 0 || len(secret.Data["ca.crt"]) == 0 {
			return fmt.Errorf("%w: the Secret holds %d keys", kubetest.ErrNotYet, len(secret.Data))
		}
		return nil
	})
	// Not ready while the certificate is not in the directory: the
	// webhook server cannot have started.
	if code := getCode(t, "http://"+probeAddr+"/readyz"); code != http.StatusInternalServerError {
		t.Fatalf("/readyz before the certificate is mounted = %d, want 500", code)
	}
	for _, k := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, k), secret.Data[k], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	kubetest.Eventually(t, 2*time.Minute, func() error {
		var wc admissionregv1.MutatingWebhookConfiguration
		if err := admin.Get(t.Context(), types.NamespacedName{Name: configName}, &wc); err != nil {
			return err
		}
		if !bytes.Equal(wc.Webhooks[0].ClientConfig.CABundle, secret.Data["ca.crt"]) {
			return fmt.Errorf("%w: the caBundle is not the Secret's CA", kubetest.ErrNotYet)
		}
		return nil
	})
	waitServing(t)
	kubetest.Eventually(t, time.Minute, func() error {
		if code := getCode(t, "http://"+probeAddr+"/readyz"); code != http.StatusOK {
			return fmt.Errorf("%w: /readyz = %d", kubetest.ErrNotYet, code)
		}
		return nil
	})
	// The server presents the self-made certificate, for localhost.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret.Data["ca.crt"]) {
		t.Fatal("the Secret's ca.crt is not PEM")
	}
	addr := net.JoinHostPort(env.WebhookInstallOptions.LocalServingHost, strconv.Itoa(env.WebhookInstallOptions.LocalServingPort))
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS with the Secret's CA: %v", err)
	}
	c.Close()

	ns := testNamespace(t)
	createInstance(t, ns, "flags", nil)
	pod := testPod(ns, "reader", map[string]string{LabelInstance: "flags"}, nil)
	if err := admin.Create(t.Context(), pod); err != nil {
		t.Fatal(err)
	}
	var stored corev1.Pod
	if err := admin.Get(t.Context(), types.NamespacedName{Namespace: ns, Name: "reader"}, &stored); err != nil {
		t.Fatal(err)
	}
	checkStoredPod(t, &stored, "/var/lib/whycache/"+ns+"/flags", false)
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// getCode GETs url and returns the status code (0 when nothing answers).
func getCode(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // a local probe
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
