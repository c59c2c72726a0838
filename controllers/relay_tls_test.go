package controllers

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/internal/testcerts"
)

// newTestCA returns a certificate authority for tests.
func newTestCA(t *testing.T, now time.Time) *testcerts.CA {
	t.Helper()
	ca, err := testcerts.NewCA("test CA", now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue returns a serving certificate for dns signed by ca, valid from
// notBefore to notAfter, and its key, in PEM.
func issue(t *testing.T, ca *testcerts.CA, dns []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	c, k, err := ca.Issue(testcerts.Leaf{DNS: dns, NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// relayTLSSecretData is what cert-manager writes for a certificate of dns
// signed by ca, valid for a day around now.
func relayTLSSecretData(t *testing.T, ca *testcerts.CA, now time.Time, dns ...string) map[string][]byte {
	crt, key := issue(t, ca, dns, now.Add(-time.Hour), now.Add(24*time.Hour))
	return map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key, "ca.crt": ca.PEM}
}

func TestCheckRelayTLS(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	const host = "cache-relay.apps.svc"
	ca, other := newTestCA(t, now), newTestCA(t, now)
	good := relayTLSSecretData(t, ca, now, host)
	with := func(change func(d map[string][]byte)) map[string][]byte {
		d := map[string][]byte{}
		for k, v := range good {
			d[k] = slices.Clone(v)
		}
		change(d)
		return d
	}
	_, otherKey := issue(t, ca, []string{host}, now.Add(-time.Hour), now.Add(time.Hour))
	wrongHost := relayTLSSecretData(t, ca, now, "cache-relay.other.svc")
	expired, expiredKey := issue(t, ca, []string{host}, now.Add(-48*time.Hour), now.Add(-time.Hour))
	tests := []struct {
		name  string
		data  map[string][]byte // nil: no Secret
		caKey string
		want  string // "" for usable
	}{
		{"usable", good, "ca.crt", ""},
		{"the CA under another key", with(func(d map[string][]byte) { d["root.pem"] = d["ca.crt"]; delete(d, "ca.crt") }), "root.pem", ""},
		{"CA bundle with the CA second", with(func(d map[string][]byte) { d["ca.crt"] = append(slices.Clone(other.PEM), ca.PEM...) }), "ca.crt", ""},
		{"no Secret", nil, "ca.crt", "Secret relay-tls does not exist"},
		{"no CA", with(func(d map[string][]byte) { delete(d, "ca.crt") }), "ca.crt", "Secret relay-tls has no key ca.crt"},
		{"no key", with(func(d map[string][]byte) { delete(d, "tls.key") }), "ca.crt", "has no key tls.key"},
		{"key of another certificate", with(func(d map[string][]byte) { d["tls.key"] = otherKey }), "ca.crt", "tls.crt and tls.key"},
		{"CA not PEM", with(func(d map[string][]byte) { d["ca.crt"] = []byte("not a certificate") }), "ca.crt", "ca.crt holds no PEM certificate"},
		{"signed by another CA", with(func(d map[string][]byte) { d["ca.crt"] = other.PEM }), "ca.crt", "does not verify for cache-relay.apps.svc with the CA in ca.crt"},
		{"names another host", wrongHost, "ca.crt", "does not verify for cache-relay.apps.svc"},
		{"expired", with(func(d map[string][]byte) { d["tls.crt"], d["tls.key"] = expired, expiredKey }), "ca.crt", "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sec *corev1.Secret
			if tt.data != nil {
				sec = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "relay-tls"}, Type: corev1.SecretTypeTLS, Data: tt.data}
			}
			err := checkRelayTLS(sec, "relay-tls", tt.caKey, host, now)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("checkRelayTLS: %v, want usable", err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("checkRelayTLS: usable, want an error with %q", tt.want)
			case !strings.Contains(err.Error(), tt.want) || !errors.Is(err, errRelayTLS):
				t.Errorf("checkRelayTLS: %v, want an errRelayTLS with %q", err, tt.want)
			}
		})
	}
}

func TestRelayCondition(t *testing.T) {
	dep := relayDeploymentWith
	tlsErr := checkRelayTLS(nil, "relay-tls", "ca.crt", "h", time.Time{})
	tests := []struct {
		name    string
		in      relayObserved
		present bool
		want    condition
	}{
		{"no relay section", relayObserved{Deployment: dep(2, 2)}, false, condition{}},
		{"not created yet", relayObserved{Wanted: true}, true,
			condition{metav1.ConditionFalse, whycachev1.ReasonRelayNotCreated, "the relay Deployment does not exist yet"}},
		{"none available", relayObserved{Wanted: true, Deployment: dep(2, 0)}, true,
			condition{metav1.ConditionFalse, whycachev1.ReasonRelaysUnavailable, "0 of 2 relays are available"}},
		{"none available, with the Deployment's reason", relayObserved{Wanted: true, Deployment: dep(2, 0,
			appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Message: "pods \"x\" is forbidden: exceeded quota"})}, true,
			condition{metav1.ConditionFalse, whycachev1.ReasonRelaysUnavailable, "0 of 2 relays are available: pods \"x\" is forbidden: exceeded quota"}},
		{"one available", relayObserved{Wanted: true, Deployment: dep(3, 1)}, true,
			condition{metav1.ConditionTrue, whycachev1.ReasonRelaysAvailable, "1 of 3 relays are available"}},
		{"available but the TLS Secret is missing", relayObserved{Wanted: true, Deployment: dep(2, 2), TLSProblem: tlsErr}, true,
			condition{metav1.ConditionFalse, whycachev1.ReasonRelayTLSInvalid, tlsErr.Error() + "; 2 of 2 relays are available"}},
		{"TLS Secret missing, no Deployment yet", relayObserved{Wanted: true, TLSProblem: tlsErr}, true,
			condition{metav1.ConditionFalse, whycachev1.ReasonRelayTLSInvalid, tlsErr.Error()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, present := relayCondition(tt.in)
			if present != tt.present || got != tt.want {
				t.Errorf("relayCondition = %+v (present %v), want %+v (present %v)", got, present, tt.want, tt.present)
			}
		})
	}
}

// TestRelayConditionInStatus: the condition is set with the others while
// the spec has a relay, and removed when the relay section goes.
func TestRelayConditionInStatus(t *testing.T) {
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	in := statusInput{Now: now, Generation: 1, Relay: relayObserved{Wanted: true, Deployment: relayDeploymentWith(2, 1)}}
	st := computeStatus(in)
	c := meta.FindStatusCondition(st.Conditions, whycachev1.ConditionRelayAvailable)
	if c == nil || c.Status != metav1.ConditionTrue || c.Message != "1 of 2 relays are available" {
		t.Fatalf("RelayAvailable = %+v", c)
	}
	in.Old, in.Relay, in.Now = st, relayObserved{}, now.Add(time.Minute)
	st = computeStatus(in)
	if c := meta.FindStatusCondition(st.Conditions, whycachev1.ConditionRelayAvailable); c != nil {
		t.Errorf("RelayAvailable without a relay section: %+v", c)
	}
	if len(st.Conditions) != 5 {
		t.Errorf("%d conditions without a relay, want 5", len(st.Conditions))
	}
}

// relayDeploymentWith is a relay Deployment of replicas, available of them
// available.
func relayDeploymentWith(replicas, available int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas)},
		Status: appsv1.DeploymentStatus{AvailableReplicas: available, Conditions: conds}}
}
