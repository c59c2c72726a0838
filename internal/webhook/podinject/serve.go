package podinject

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// The rotator updates the caBundle of the webhook configuration (by name:
// update and patch on that one object only; a watch cannot be narrowed to a
// name) and fills the serving certificate's Secret in the operator's own
// namespace (a Role there, not a ClusterRole).
//
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,resourceNames=whycache-mutating-webhook-configuration,verbs=update;patch
// +kubebuilder:rbac:groups="",namespace=whycache-system,resources=secrets,verbs=get;list;watch;create;update

// CertMode says where the webhook's serving certificate comes from.
type CertMode string

const (
	// CertModeSelf: the manager generates a CA and a serving certificate
	// into a Secret of its namespace, renews them before they expire, and
	// keeps the CA in the webhook configuration's caBundle
	// (github.com/open-policy-agent/cert-controller). The Secret is
	// mounted at the certificate directory, as in the external mode.
	CertModeSelf CertMode = "self"
	// CertModeExternal: the certificate is mounted from a Secret that
	// something else fills (cert-manager's Certificate), and that
	// something patches the caBundle (cert-manager's CA injector).
	CertModeExternal CertMode = "external"
)

// ParseCertMode parses a --webhook-cert-mode value.
func ParseCertMode(s string) (CertMode, error) {
	switch m := CertMode(s); m {
	case CertModeSelf, CertModeExternal:
		return m, nil
	}
	return "", fmt.Errorf("webhook certificate mode %q: want %q or %q", s, CertModeSelf, CertModeExternal)
}

// Options configure how the manager serves the webhook.
type Options struct {
	// Host and Port are where the webhook listens ("" is every interface).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key; the server reloads them when
	// they change.
	CertDir  string
	CertMode CertMode
	// SecretName and SecretNamespace name the Secret the self mode fills.
	SecretName, SecretNamespace string
	// ConfigName is the MutatingWebhookConfiguration whose caBundle the
	// self mode keeps.
	ConfigName string
	// ServiceName is the webhook's Service, in SecretNamespace: the
	// self-made certificate is for SERVICE.NAMESPACE.svc.
	ServiceName string
	// ExtraDNSNames are more names for the self-made certificate, for a
	// webhook configuration that reaches the manager by URL (a manager
	// outside the cluster; the tests, at localhost).
	ExtraDNSNames []string
	// DefaultImage is the operator's default agent image.
	DefaultImage string
}

func (o Options) validate() error {
	var errs []error
	if o.CertDir == "" {
		errs = append(errs, errors.New("the webhook certificate directory is not set"))
	}
	if o.CertMode == CertModeSelf {
		for _, f := range []struct{ what, v string }{
			{"certificate Secret", o.SecretName}, {"certificate Secret's namespace", o.SecretNamespace},
			{"webhook configuration name", o.ConfigName}, {"webhook Service name", o.ServiceName},
		} {
			if f.v == "" {
				errs = append(errs, fmt.Errorf("the %s is not set (needed by --webhook-cert-mode=%s)", f.what, CertModeSelf))
			}
		}
	} else if o.CertMode != CertModeExternal {
		_, err := ParseCertMode(string(o.CertMode))
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Setup adds the webhook to mgr: its server, started once its serving
// certificate is ready, with a readiness check that fails until then
// (so the Service sends no request to a replica that cannot answer), and,
// in the self mode, the certificate rotator, with its Secret created (empty)
// when it is missing. Every replica serves, leader or not.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if err := o.validate(); err != nil {
		return fmt.Errorf("pod webhook: %w", err)
	}
	if o.CertMode == CertModeSelf {
		key := types.NamespacedName{Namespace: o.SecretNamespace, Name: o.SecretName}
		if err := ensureSecret(ctx, mgr.GetAPIReader(), mgr.GetClient(), key); err != nil {
			return fmt.Errorf("pod webhook: %w", err)
		}
	}
	srv := webhook.NewServer(webhook.Options{Host: o.Host, Port: o.Port, CertDir: o.CertDir})
	srv.Register(Path, &webhook.Admission{Handler: &Handler{
		Instances: mgr.GetAPIReader(), Decoder: admission.NewDecoder(mgr.GetScheme()), DefaultImage: o.DefaultImage,
	}})
	ready := make(chan struct{})
	if o.CertMode == CertModeSelf {
		svc := o.ServiceName + "." + o.SecretNamespace + ".svc"
		if err := rotator.AddRotator(mgr, &rotator.CertRotator{
			SecretKey:      types.NamespacedName{Namespace: o.SecretNamespace, Name: o.SecretName},
			CertDir:        o.CertDir,
			CAName:         "whycache-webhook-ca",
			CAOrganization: "whycache",
			DNSName:        svc,
			ExtraDNSNames:  append([]string{svc + ".cluster.local"}, o.ExtraDNSNames...),
			IsReady:        ready,
			Webhooks:       []rotator.WebhookInfo{{Name: o.ConfigName, Type: rotator.Mutating}},
			FieldOwner:     "whycache-operator",
			// Every replica serves the webhook, so every replica needs
			// the certificate: the rotator does not wait for the lease.
			RequireLeaderElection: false,
		}); err != nil {
			return fmt.Errorf("pod webhook: add the certificate rotator: %w", err)
		}
	} else if err := mgr.Add(&certFilesWatch{dir: o.CertDir, ready: ready}); err != nil {
		return fmt.Errorf("pod webhook: add the certificate wait: %w", err)
	}
	if err := mgr.Add(&gatedServer{ready: ready, srv: srv}); err != nil {
		return fmt.Errorf("pod webhook: add the server: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", srv.StartedChecker()); err != nil {
		return fmt.Errorf("pod webhook: add the readiness check: %w", err)
	}
	return nil
}

// ensureSecretTimeout bounds the start-up check of the certificate Secret.
const ensureSecretTimeout = 30 * time.Second

// ensureSecret creates the self mode's certificate Secret, empty, when it
// does not exist: the rotator fills a Secret but never creates one, and
// stops the manager when it finds none.
func ensureSecret(ctx context.Context, r client.Reader, w client.Writer, key types.NamespacedName) error {
	ctx, cancel := context.WithTimeout(ctx, ensureSecretTimeout)
	defer cancel()
	err := r.Get(ctx, key, &corev1.Secret{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("read the certificate Secret %s: %w", key, err)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: map[string]string{
			"app.kubernetes.io/name": "whycache", "app.kubernetes.io/component": "operator",
		}},
		Type: corev1.SecretTypeOpaque,
	}
	// Another replica may create it at the same moment.
	if err := w.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the certificate Secret %s: %w", key, err)
	}
	return nil
}

// gatedServer starts the webhook server once ready is closed: in the self
// mode, once the rotator has written the certificate, seen it in the
// certificate directory and put its CA in the webhook configuration.
// (The manager's own webhook server would start at once and fail on the
// missing certificate.)
type gatedServer struct {
	ready <-chan struct{}
	srv   webhook.Server
}

var _ manager.LeaderElectionRunnable = (*gatedServer)(nil)

// Start waits for the certificate, then serves until ctx ends.
func (g *gatedServer) Start(ctx context.Context) error {
	select {
	case <-g.ready:
	case <-ctx.Done():
		return nil
	}
	return g.srv.Start(ctx)
}

// NeedLeaderElection is false: every replica serves the webhook.
func (g *gatedServer) NeedLeaderElection() bool { return false }

// certFilesWatch closes ready once the certificate and its key are in dir:
// in the external mode, until cert-manager has issued the certificate and
// the kubelet has mounted it, the manager waits (not ready) instead of
// failing.
type certFilesWatch struct {
	dir   string
	ready chan struct{}
}

// certPollInterval is how often certFilesWatch looks.
const certPollInterval = time.Second

// Start polls until the files are there or ctx ends.
func (w *certFilesWatch) Start(ctx context.Context) error {
	t := time.NewTicker(certPollInterval)
	defer t.Stop()
	for !certFilesPresent(w.dir) {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
	close(w.ready)
	return nil
}

// NeedLeaderElection is false: every replica serves the webhook.
func (w *certFilesWatch) NeedLeaderElection() bool { return false }

// certFilesPresent says whether dir holds a non-empty tls.crt and tls.key
// (the names the webhook server reads).
func certFilesPresent(dir string) bool {
	for _, n := range []string{"tls.crt", "tls.key"} {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil || fi.Size() == 0 {
			return false
		}
	}
	return true
}

// serviceAccountNamespaceFile holds the pod's namespace in a pod.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// PodNamespace is the namespace the operator runs in: $POD_NAMESPACE (the
// downward API), else the namespace of its ServiceAccount's mounted token,
// else "" (outside a cluster).
func PodNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	b, err := os.ReadFile(serviceAccountNamespaceFile)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
