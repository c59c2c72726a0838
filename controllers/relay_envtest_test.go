package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

func TestRelaySpecs(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	withRelay := func(relay map[string]any) *unstructured.Unstructured {
		u := sample(t, minimalSample, ns)
		if err := unstructured.SetNestedField(u.Object, relay, "spec", "relay"); err != nil {
			t.Fatal(err)
		}
		return u
	}
	t.Run("defaults", func(t *testing.T) {
		u := withRelay(map[string]any{"tokenSecretRef": map[string]any{"name": "relay-token"}})
		u.SetName("relay-defaults")
		if err := admin.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		r := getInstance(t, ns, "relay-defaults").Spec.Relay
		if r == nil || r.Replicas != 2 || r.Port != 7480 || r.TokenSecretRef.Key != "token" {
			t.Errorf("relay spec as stored: %+v, want replicas 2, port 7480 and token key \"token\" by default", r)
		}
		if r.TLS != nil {
			t.Errorf("relay TLS %+v, want none unless asked for", r.TLS)
		}
	})
	t.Run("TLS defaults", func(t *testing.T) {
		u := withRelay(map[string]any{"tls": map[string]any{"secretName": "relay-tls"}})
		u.SetName("relay-tls-defaults")
		if err := admin.Create(t.Context(), u); err != nil {
			t.Fatal(err)
		}
		r := getInstance(t, ns, "relay-tls-defaults").Spec.Relay
		if r.TLS == nil || r.TLS.SecretName != "relay-tls" || r.TLS.CAKey != "ca.crt" {
			t.Errorf("relay TLS as stored: %+v, want the CA key \"ca.crt\" by default", r.TLS)
		}
	})
	for _, tc := range []struct {
		name  string
		relay map[string]any
		want  string
	}{
		{"no replicas", map[string]any{"replicas": int64(0)}, "relay.replicas must be at least 1 (remove the relay section to run without a relay)"},
		{"too many replicas", map[string]any{"replicas": int64(51)}, "relay.replicas must be at most 50"},
		{"privileged port", map[string]any{"port": int64(80)}, "relay.port must be from 1024 to 65535"},
		{"port out of range", map[string]any{"port": int64(70000)}, "relay.port must be from 1024 to 65535"},
		{"token Secret without name", map[string]any{"tokenSecretRef": map[string]any{"key": "t"}}, "spec.relay.tokenSecretRef.name: Required value"},
		{"bad token Secret name", map[string]any{"tokenSecretRef": map[string]any{"name": "Relay_Token"}}, "spec.relay.tokenSecretRef.name: Invalid value"},
		{"TLS without a Secret", map[string]any{"tls": map[string]any{}}, "spec.relay.tls.secretName: Required value"},
		{"bad TLS Secret name", map[string]any{"tls": map[string]any{"secretName": "Relay_TLS"}},
			"relay.tls.secretName must be a Secret name: lowercase letters, digits, '-' and '.'"},
		{"the private key as the CA", map[string]any{"tls": map[string]any{"secretName": "relay-tls", "caKey": "tls.key"}},
			"relay.tls.caKey must name the CA certificate, not the private key tls.key: the CA is mounted into every agent pod"},
		{"bad CA key", map[string]any{"tls": map[string]any{"secretName": "relay-tls", "caKey": "ca/crt"}},
			"relay.tls.caKey must be a Secret key: letters, digits, '-', '_' and '.'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := withRelay(tc.relay)
			u.SetName("bad")
			err := admin.Create(t.Context(), u)
			if err == nil {
				t.Fatalf("created, want a rejection with %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("rejected with\n%v\nwant a message with %q", err, tc.want)
			}
		})
	}
}

// TestRelayLifecycle: the relay's Deployment and Service come with the
// relay section, owned by the instance; the agents move to the relay once
// one relay is available; without the section they move back, and the
// relay goes once every agent runs the new template.
func TestRelayLifecycle(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	storeSecret(t, ns, "relayed-store", t.TempDir())
	r := newTestReconciler(t, time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC))
	inst := createInstance(t, ns, "relayed", func(i *whycachev1.WhycacheInstance) {
		i.Spec.Relay = &whycachev1.RelaySpec{Replicas: 3, TokenSecretRef: &whycachev1.TokenSecretRef{Name: "relay-token"}}
	})
	now := r.clock.Now()
	r.reconcileAt(t, inst, now)

	dep := getRelayDeployment(t, inst)
	svc := &corev1.Service{}
	if err := admin.Get(t.Context(), key(ns, "relayed-relay"), svc); err != nil {
		t.Fatal(err)
	}
	for _, obj := range []client.Object{dep, svc} {
		mustf(t, metav1.IsControlledBy(obj, inst), "%T %s is not controlled by the instance: %+v", obj, obj.GetName(), obj.GetOwnerReferences())
	}
	c := dep.Spec.Template.Spec.Containers[0]
	mustf(t, *dep.Spec.Replicas == 3 && c.Image == testImage && strings.Join(c.Command, " ") == "whycache relay", "deployment %d replicas, %s %q", *dep.Spec.Replicas, c.Image, c.Command)
	store := envByName(c)["WHYCACHE_STORE"].ValueFrom
	mustf(t, store != nil && store.SecretKeyRef != nil && store.SecretKeyRef.Name == "relayed-store", "relay store env %+v", store)
	mustf(t, svc.Spec.Ports[0].Port == 7480, "service ports %+v", svc.Spec.Ports)
	mustf(t, !agentsOnRelay(getDaemonSet(t, inst)), "agents pointed at a relay that is not available yet")
	wantCondition(t, getInstance(t, ns, "relayed"), whycachev1.ConditionRelayAvailable, metav1.ConditionFalse, whycachev1.ReasonRelayNotCreated)
	r.reconcileAt(t, inst, now.Add(time.Second/2))
	rc := conditionOf(t, getInstance(t, ns, "relayed"), whycachev1.ConditionRelayAvailable)
	mustf(t, rc.Status == metav1.ConditionFalse && rc.Reason == whycachev1.ReasonRelaysUnavailable && rc.Message == "0 of 3 relays are available",
		"RelayAvailable with no relay available: %+v", rc)

	// Play the Deployment controller: one relay is available.
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 1, AvailableReplicas: 1}
	if err := admin.Status().Update(t.Context(), dep); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, inst, now.Add(time.Second))
	rc = conditionOf(t, getInstance(t, ns, "relayed"), whycachev1.ConditionRelayAvailable)
	mustf(t, rc.Status == metav1.ConditionTrue && rc.Reason == whycachev1.ReasonRelaysAvailable && rc.Message == "1 of 3 relays are available",
		"RelayAvailable with one relay available: %+v", rc)
	ds := getDaemonSet(t, inst)
	agent := ds.Spec.Template.Spec.Containers[0]
	want := "relay://relayed-relay." + ns + ".svc:7480?token-file=/var/run/whycache-relay/token"
	mustf(t, envByName(agent)["WHYCACHE_STORE"].Value == want, "agent store env %+v, want %q", envByName(agent)["WHYCACHE_STORE"], want)
	mustf(t, len(ds.Spec.Template.Spec.Volumes) == 2 && len(agent.VolumeMounts) == 2, "agent volumes %+v, mounts %+v", ds.Spec.Template.Spec.Volumes, agent.VolumeMounts)

	// Remove the section: the agents go back to the store first.
	inst = getInstance(t, ns, "relayed")
	inst.Spec.Relay = nil
	if err := admin.Update(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, inst, now.Add(2*time.Second))
	ds = getDaemonSet(t, inst)
	mustf(t, !agentsOnRelay(ds) && envByName(ds.Spec.Template.Spec.Containers[0])["WHYCACHE_STORE"].ValueFrom != nil, "agents still on the relay")
	cond := meta.FindStatusCondition(getInstance(t, ns, "relayed").Status.Conditions, whycachev1.ConditionRelayAvailable)
	mustf(t, cond == nil, "RelayAvailable without a relay section: %+v", cond)
	getRelayDeployment(t, inst) // still there: agents are rolling back

	// Play the DaemonSet controller: every agent runs the new template.
	setDaemonSetStatus(t, ds, 2, 2)
	r.reconcileAt(t, inst, now.Add(3*time.Second))
	for _, obj := range []client.Object{&appsv1.Deployment{}, &corev1.Service{}} {
		eventually(t, 10*time.Second, func() error {
			err := admin.Get(t.Context(), key(ns, "relayed-relay"), obj)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("%T still there (%v)", obj, err)
		})
	}
	mustf(t, hasEvent(r.drainEvents(), "RelayRemoved"), "no RelayRemoved event")
}

func getRelayDeployment(t *testing.T, inst *whycachev1.WhycacheInstance) *appsv1.Deployment {
	t.Helper()
	var d appsv1.Deployment
	if err := admin.Get(t.Context(), key(inst.Namespace, relayName(inst)), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

// TestRelayTLS: with spec.relay.tls the relay pods mount the Secret's
// certificate and key and serve TLS; the agents move to the relay only once
// the Secret holds a certificate they can verify, and then mount the CA and
// open the relay with tls=true; RelayAvailable says what is wrong meanwhile.
func TestRelayTLS(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	storeSecret(t, ns, "tls-store", t.TempDir())
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	r := newTestReconciler(t, now)
	ca := newTestCA(t, now)
	// First a certificate for another name: the relays run, the agents
	// stay on the store.
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "relay-tls", Namespace: ns}, Type: corev1.SecretTypeTLS,
		Data: relayTLSSecretData(t, ca, now, "tls-relay.elsewhere.svc")}
	if err := admin.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	inst := createInstance(t, ns, "tls", func(i *whycachev1.WhycacheInstance) {
		i.Spec.Relay = &whycachev1.RelaySpec{TLS: &whycachev1.RelayTLS{SecretName: "relay-tls"}}
	})
	r.reconcileAt(t, inst, now)

	dep := getRelayDeployment(t, inst)
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	mustf(t, slices.Contains(c.Args, "--tls-cert-file=/var/run/whycache-relay-tls/tls.crt") && slices.Contains(c.Args, "--tls-key-file=/var/run/whycache-relay-tls/tls.key"),
		"relay args %q, want the TLS flags", c.Args)
	mustf(t, c.ReadinessProbe.HTTPGet.Scheme == corev1.URISchemeHTTPS, "readiness probe over %s", c.ReadinessProbe.HTTPGet.Scheme)
	mustf(t, len(pod.Volumes) == 1 && pod.Volumes[0].Secret != nil && pod.Volumes[0].Secret.SecretName == "relay-tls" && len(pod.Volumes[0].Secret.Items) == 2,
		"relay volumes %+v", pod.Volumes)
	mustf(t, len(c.VolumeMounts) == 1 && c.VolumeMounts[0].MountPath == relayTLSDir, "relay mounts %+v", c.VolumeMounts)

	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
	if err := admin.Status().Update(t.Context(), dep); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, inst, now.Add(time.Second))
	mustf(t, !agentsOnRelay(getDaemonSet(t, inst)), "agents moved to a relay whose certificate does not name tls-relay.%s.svc", ns)
	rc := conditionOf(t, getInstance(t, ns, "tls"), whycachev1.ConditionRelayAvailable)
	mustf(t, rc.Status == metav1.ConditionFalse && rc.Reason == whycachev1.ReasonRelayTLSInvalid &&
		strings.Contains(rc.Message, "does not verify for tls-relay."+ns+".svc") && strings.HasSuffix(rc.Message, "; 2 of 2 relays are available"),
		"RelayAvailable with a certificate for another name: %+v", rc)
	mustf(t, hasEvent(r.drainEvents(), whycachev1.ReasonRelayTLSInvalid), "no %s event", whycachev1.ReasonRelayTLSInvalid)

	// The certificate renewed for the right name: the agents move.
	sec.Data = relayTLSSecretData(t, ca, now, "tls-relay."+ns+".svc")
	if err := admin.Update(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, inst, now.Add(2*time.Second))
	wantCondition(t, getInstance(t, ns, "tls"), whycachev1.ConditionRelayAvailable, metav1.ConditionTrue, whycachev1.ReasonRelaysAvailable)
	ds := getDaemonSet(t, inst)
	agent := ds.Spec.Template.Spec.Containers[0]
	want := "relay://tls-relay." + ns + ".svc:7480?tls=true&ca-file=/var/run/whycache-relay-tls/ca.crt"
	mustf(t, envByName(agent)["WHYCACHE_STORE"].Value == want, "agent store env %+v, want %q", envByName(agent)["WHYCACHE_STORE"], want)
	var caVolume *corev1.Volume
	for i, v := range ds.Spec.Template.Spec.Volumes {
		if v.Name == volumeRelayCA {
			caVolume = &ds.Spec.Template.Spec.Volumes[i]
		}
	}
	mustf(t, caVolume != nil && caVolume.Secret.SecretName == "relay-tls" &&
		slices.Equal(caVolume.Secret.Items, []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}), "agent CA volume %+v", caVolume)
	mustf(t, slices.ContainsFunc(agent.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == volumeRelayCA && m.MountPath == relayTLSDir && m.ReadOnly
	}), "agent mounts %+v", agent.VolumeMounts)

	// The Secret goes: the agents already on the relay stay, and the
	// condition says why the relay is not usable.
	if err := admin.Delete(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, inst, now.Add(3*time.Second))
	mustf(t, agentsOnRelay(getDaemonSet(t, inst)), "agents moved off the relay")
	rc = conditionOf(t, getInstance(t, ns, "tls"), whycachev1.ConditionRelayAvailable)
	mustf(t, rc.Reason == whycachev1.ReasonRelayTLSInvalid && strings.Contains(rc.Message, "Secret relay-tls does not exist"),
		"RelayAvailable once the Secret is gone: %+v", rc)
}
