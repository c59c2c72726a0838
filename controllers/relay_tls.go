package controllers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

const (
	// relayCAPath is the CA certificate's file name in the agents' mount.
	relayCAPath = "ca.crt"
	// defaultRelayCAKey is the Secret key of the CA certificate unless the
	// spec names another (cert-manager's name for it).
	defaultRelayCAKey = "ca.crt"
)

// errRelayTLS marks a relay TLS Secret the agents could not use.
var errRelayTLS = errors.New("the relay's TLS Secret is not usable")

func relayCAKey(t *whycachev1.RelayTLS) string {
	if t.CAKey == "" {
		return defaultRelayCAKey
	}
	return t.CAKey
}

// relayTLSVolume is the relay pods' volume of the TLS Secret: the
// certificate and its key; nil without TLS.
func relayTLSVolume(r *whycachev1.RelaySpec) []corev1.Volume {
	if r.TLS == nil {
		return nil
	}
	return []corev1.Volume{{Name: volumeRelayTLS, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: r.TLS.SecretName,
		Items: []corev1.KeyToPath{
			{Key: corev1.TLSCertKey, Path: corev1.TLSCertKey}, {Key: corev1.TLSPrivateKeyKey, Path: corev1.TLSPrivateKeyKey},
		},
		DefaultMode: ptr.To[int32](0o440),
	}}}}
}

// relayCAVolume is the agent pods' volume of the TLS Secret: the CA
// certificate alone, so that no agent pod holds the relays' key; nil
// without TLS.
func relayCAVolume(r *whycachev1.RelaySpec) []corev1.Volume {
	if r.TLS == nil {
		return nil
	}
	return []corev1.Volume{{Name: volumeRelayCA, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName:  r.TLS.SecretName,
		Items:       []corev1.KeyToPath{{Key: relayCAKey(r.TLS), Path: relayCAPath}},
		DefaultMode: ptr.To[int32](0o444),
	}}}}
}

// relayTLSMount mounts the volume named volume (relayTLSVolume's or
// relayCAVolume's) at relayTLSDir; nil without TLS.
func relayTLSMount(r *whycachev1.RelaySpec, volume string) []corev1.VolumeMount {
	if r.TLS == nil {
		return nil
	}
	return []corev1.VolumeMount{{Name: volume, MountPath: relayTLSDir, ReadOnly: true}}
}

// checkRelayTLS checks the relay's TLS Secret (nil when it does not
// exist) as the relays and the agents will use it: a key pair in tls.crt
// and tls.key, whose certificate chains to the CA in caKey, names host
// and is valid at now. The error says what is wrong, matching
// errRelayTLS.
func checkRelayTLS(sec *corev1.Secret, name, caKey, host string, now time.Time) error {
	if sec == nil {
		return fmt.Errorf("%w: Secret %s does not exist", errRelayTLS, name)
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, caKey} {
		if len(sec.Data[k]) == 0 {
			return fmt.Errorf("%w: Secret %s has no key %s", errRelayTLS, name, k)
		}
	}
	pair, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return fmt.Errorf("%w: Secret %s: %s and %s: %w", errRelayTLS, name, corev1.TLSCertKey, corev1.TLSPrivateKeyKey, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(sec.Data[caKey]) {
		return fmt.Errorf("%w: Secret %s: %s holds no PEM certificate", errRelayTLS, name, caKey)
	}
	certs := make([]*x509.Certificate, len(pair.Certificate))
	for i, der := range pair.Certificate {
		if certs[i], err = x509.ParseCertificate(der); err != nil {
			return fmt.Errorf("%w: Secret %s: %s: %w", errRelayTLS, name, corev1.TLSCertKey, err)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		DNSName: host, Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	if err != nil {
		return fmt.Errorf("%w: Secret %s: the certificate does not verify for %s with the CA in %s: %w", errRelayTLS, name, host, caKey, err)
	}
	return nil
}

// readRelayTLS reads and checks the instance's relay TLS Secret: problem
// is nil when the spec has no TLS or the Secret is usable; err is a failure
// to read it. The Secret is read from the API server (the operator keeps
// no cache of Secrets).
func (r *Reconciler) readRelayTLS(ctx context.Context, inst *whycachev1.WhycacheInstance) (problem, err error) {
	t := inst.Spec.Relay.TLS
	if t == nil {
		return nil, nil
	}
	var sec corev1.Secret
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: inst.Namespace, Name: t.SecretName}, &sec)
	switch {
	case apierrors.IsNotFound(err):
		return checkRelayTLS(nil, t.SecretName, relayCAKey(t), relayHost(inst), r.Clock.Now()), nil
	case err != nil:
		return nil, fmt.Errorf("get the relay's TLS Secret: %w", err)
	}
	return checkRelayTLS(&sec, t.SecretName, relayCAKey(t), relayHost(inst), r.Clock.Now()), nil
}
