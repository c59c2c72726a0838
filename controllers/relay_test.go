package controllers

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

func TestPlanRelay(t *testing.T) {
	tests := []struct {
		name string
		in   relayInput
		want relayPlan
	}{
		{"no relay asked for, none there", relayInput{AgentsRolledOut: true}, relayPlan{}},
		{"asked for, not ready yet: agents stay on the store", relayInput{Wanted: true, TLSUsable: true}, relayPlan{Apply: true}},
		{"asked for and ready: agents move", relayInput{Wanted: true, Exists: true, Ready: true, TLSUsable: true}, relayPlan{Apply: true, PointAgents: true}},
		{"ready, but the TLS Secret would fail the agents: they stay on the store", relayInput{Wanted: true, Exists: true, Ready: true}, relayPlan{Apply: true}},
		{"agents on the relay stay there while it rolls out", relayInput{Wanted: true, Exists: true, AgentsOnRelay: true, TLSUsable: true}, relayPlan{Apply: true, PointAgents: true}},
		{"agents on the relay stay there whatever the TLS Secret", relayInput{Wanted: true, Exists: true, Ready: true, AgentsOnRelay: true}, relayPlan{Apply: true, PointAgents: true}},
		{"removed from the spec, agents still on the relay", relayInput{Exists: true, Ready: true, AgentsOnRelay: true, AgentsRolledOut: true}, relayPlan{}},
		{"removed, agents moved back but not all rolled out", relayInput{Exists: true, Ready: true}, relayPlan{}},
		{"removed, every agent back on the store", relayInput{Exists: true, Ready: true, AgentsRolledOut: true}, relayPlan{Remove: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := planRelay(tt.in); got != tt.want {
				t.Errorf("planRelay(%+v) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestRolledOut(t *testing.T) {
	ds := func(gen, observed int64, desired, updated int32) *appsv1.DaemonSet {
		return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Generation: gen}, Status: appsv1.DaemonSetStatus{
			ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: updated}}
	}
	tests := []struct {
		name string
		ds   *appsv1.DaemonSet
		want bool
	}{
		{"no DaemonSet", nil, true},
		{"every pod updated", ds(3, 3, 5, 5), true},
		{"no nodes", ds(2, 2, 0, 0), true},
		{"new template not seen by the controller yet", ds(3, 2, 5, 5), false},
		{"rollout under way", ds(3, 3, 5, 4), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := rolledOut(tt.ds); got != tt.want {
				t.Errorf("rolledOut = %v, want %v", got, tt.want)
			}
		})
	}
}

func relayInstance(mutate func(r *whycachev1.RelaySpec)) *whycachev1.WhycacheInstance {
	inst := &whycachev1.WhycacheInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: "apps"},
		Spec: whycachev1.WhycacheInstanceSpec{
			LogStore: whycachev1.LogStoreSpec{URLSecretRef: whycachev1.SecretKeyRef{Name: "db", Key: "url"}, LogName: "flags"},
			Relay:    &whycachev1.RelaySpec{},
		},
	}
	if mutate != nil {
		mutate(inst.Spec.Relay)
	}
	return inst
}

func TestRelayStoreURL(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *whycachev1.RelaySpec)
		want   string
	}{
		{"defaults", nil, "relay://cache-relay.apps.svc:7480"},
		{"own port", func(r *whycachev1.RelaySpec) { r.Port = 9000 }, "relay://cache-relay.apps.svc:9000"},
		{"token", func(r *whycachev1.RelaySpec) { r.TokenSecretRef = &whycachev1.TokenSecretRef{Name: "t"} },
			"relay://cache-relay.apps.svc:7480?token-file=/var/run/whycache-relay/token"},
		{"TLS", func(r *whycachev1.RelaySpec) { r.TLS = &whycachev1.RelayTLS{SecretName: "relay-tls"} },
			"relay://cache-relay.apps.svc:7480?tls=true&ca-file=/var/run/whycache-relay-tls/ca.crt"},
		{"token and TLS", func(r *whycachev1.RelaySpec) {
			r.TokenSecretRef = &whycachev1.TokenSecretRef{Name: "t"}
			r.TLS = &whycachev1.RelayTLS{SecretName: "relay-tls", CAKey: "root.pem"}
		}, "relay://cache-relay.apps.svc:7480?token-file=/var/run/whycache-relay/token&tls=true&ca-file=/var/run/whycache-relay-tls/ca.crt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := relayStoreURL(relayInstance(tt.mutate)); got != tt.want {
				t.Errorf("relayStoreURL = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPointAgentsAtRelayTLS: with TLS the agents get the CA alone, under
// the key the spec names, never the relays' certificate key.
func TestPointAgentsAtRelayTLS(t *testing.T) {
	inst := relayInstance(func(r *whycachev1.RelaySpec) {
		r.TLS = &whycachev1.RelayTLS{SecretName: "relay-tls", CAKey: "root.pem"}
	})
	ds := desiredDaemonSet(inst, "img")
	pointAgentsAtRelay(ds, inst)
	pod := ds.Spec.Template.Spec
	c := pod.Containers[0]
	if got := envByName(c)["WHYCACHE_STORE"].Value; !strings.Contains(got, "tls=true&ca-file=/var/run/whycache-relay-tls/ca.crt") {
		t.Errorf("WHYCACHE_STORE = %q, want tls=true and the CA file", got)
	}
	var ca *corev1.Volume
	for i, v := range pod.Volumes {
		if v.Secret != nil && v.Secret.SecretName == "relay-tls" {
			if ca != nil {
				t.Fatalf("the TLS Secret is mounted twice: %+v", pod.Volumes)
			}
			ca = &pod.Volumes[i]
		}
	}
	if ca == nil || ca.Name != volumeRelayCA || !slices.Equal(ca.Secret.Items, []corev1.KeyToPath{{Key: "root.pem", Path: "ca.crt"}}) {
		t.Fatalf("CA volume %+v, want only root.pem as ca.crt", ca)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == volumeRelayCA && m.MountPath == relayTLSDir && m.ReadOnly
	}) {
		t.Errorf("no read-only mount of the CA at %s: %+v", relayTLSDir, c.VolumeMounts)
	}
}

func TestPointAgentsAtRelay(t *testing.T) {
	for _, token := range []bool{false, true} {
		inst := relayInstance(func(r *whycachev1.RelaySpec) {
			if token {
				r.TokenSecretRef = &whycachev1.TokenSecretRef{Name: "relay-token", Key: "secret"}
			}
		})
		ds := desiredDaemonSet(inst, "img")
		if agentsOnRelay(ds) {
			t.Fatal("agentsOnRelay before pointAgentsAtRelay")
		}
		pointAgentsAtRelay(ds, inst)
		if !agentsOnRelay(ds) {
			t.Errorf("token %v: agentsOnRelay = false after pointAgentsAtRelay", token)
		}
		c := ds.Spec.Template.Spec.Containers[0]
		env := envByName(c)
		if e := env["WHYCACHE_STORE"]; e.ValueFrom != nil || e.Value != relayStoreURL(inst) {
			t.Errorf("token %v: WHYCACHE_STORE = %+v, want %q", token, e, relayStoreURL(inst))
		}
		if env["WHYCACHE_LOG_NAME"].Value != "flags" {
			t.Errorf("token %v: log name %+v", token, env["WHYCACHE_LOG_NAME"])
		}
		hasVolume := slices.ContainsFunc(ds.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
			return v.Name == volumeRelayToken && v.Secret != nil && v.Secret.SecretName == "relay-token" &&
				slices.Equal(v.Secret.Items, []corev1.KeyToPath{{Key: "secret", Path: "token"}})
		})
		hasMount := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == volumeRelayToken && m.MountPath == relayTokenDir && m.ReadOnly
		})
		if hasVolume != token || hasMount != token {
			t.Errorf("token %v: token volume %v, mount %v", token, hasVolume, hasMount)
		}
	}
}

func TestDesiredRelayDeployment(t *testing.T) {
	inst := relayInstance(func(r *whycachev1.RelaySpec) {
		r.Replicas, r.Port = 3, 7500
		r.TokenSecretRef = &whycachev1.TokenSecretRef{Name: "relay-token"}
	})
	d := desiredRelayDeployment(inst, "img:1")
	if d.Name != "cache-relay" || *d.Spec.Replicas != 3 {
		t.Errorf("name %q, replicas %d", d.Name, *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if !slices.Equal(c.Command, []string{"whycache", "relay"}) || !slices.Equal(c.Args, []string{"--listen=:7500", "--token-file=/var/run/whycache-relay/token"}) {
		t.Errorf("command %q %q", c.Command, c.Args)
	}
	if e := envByName(c)["WHYCACHE_STORE"]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef.Name != "db" || e.ValueFrom.SecretKeyRef.Key != "url" {
		t.Errorf("WHYCACHE_STORE = %+v, want the store Secret's key", e)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.Ports[0].ContainerPort != 7500 {
		t.Errorf("readiness %+v, ports %+v", c.ReadinessProbe.HTTPGet, c.Ports)
	}
	sc := c.SecurityContext
	if !*sc.RunAsNonRoot || *sc.AllowPrivilegeEscalation || !*sc.ReadOnlyRootFilesystem || sc.Capabilities.Drop[0] != "ALL" || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("security context %+v", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
	for k, v := range relaySelectorLabels(inst) {
		if d.Spec.Selector.MatchLabels[k] != v || d.Spec.Template.Labels[k] != v {
			t.Errorf("label %s=%s missing from the selector or the template", k, v)
		}
	}
	if pod.SecurityContext.FSGroup == nil || *pod.SecurityContext.FSGroup != relayUID {
		t.Errorf("fsGroup %v, want %d: the relay user cannot read the mounted token otherwise", pod.SecurityContext.FSGroup, relayUID)
	}
	if c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP || c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probes over %s and %s without TLS", c.ReadinessProbe.HTTPGet.Scheme, c.LivenessProbe.HTTPGet.Scheme)
	}
	svc := desiredRelayService(inst)
	if svc.Name != "cache-relay" || svc.Spec.Ports[0].Port != 7500 || svc.Spec.Ports[0].TargetPort.StrVal != relayPortName ||
		svc.Spec.Selector[labelComponent] != componentRelay {
		t.Errorf("service %+v", svc.Spec)
	}
}

// TestDesiredRelayDeploymentTLS: with TLS the relays get the certificate
// and its key from the Secret, the flags that serve them, and probes over
// HTTPS.
func TestDesiredRelayDeploymentTLS(t *testing.T) {
	inst := relayInstance(func(r *whycachev1.RelaySpec) {
		r.TokenSecretRef = &whycachev1.TokenSecretRef{Name: "relay-token"}
		r.TLS = &whycachev1.RelayTLS{SecretName: "relay-tls"}
	})
	pod := desiredRelayDeployment(inst, "img:1").Spec.Template.Spec
	c := pod.Containers[0]
	want := []string{"--listen=:7480", "--token-file=/var/run/whycache-relay/token",
		"--tls-cert-file=/var/run/whycache-relay-tls/tls.crt", "--tls-key-file=/var/run/whycache-relay-tls/tls.key"}
	if !slices.Equal(c.Args, want) {
		t.Errorf("args %q, want %q", c.Args, want)
	}
	hasVolume := slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool {
		return v.Name == volumeRelayTLS && v.Secret != nil && v.Secret.SecretName == "relay-tls" &&
			slices.Equal(v.Secret.Items, []corev1.KeyToPath{{Key: "tls.crt", Path: "tls.crt"}, {Key: "tls.key", Path: "tls.key"}})
	})
	hasMount := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == volumeRelayTLS && m.MountPath == relayTLSDir && m.ReadOnly
	})
	if !hasVolume || !hasMount || len(pod.Volumes) != 2 || len(c.VolumeMounts) != 2 {
		t.Errorf("volumes %+v, mounts %+v: want the token and the TLS Secret's tls.crt and tls.key", pod.Volumes, c.VolumeMounts)
	}
	if c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS || c.LivenessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
		t.Errorf("probes over %s and %s, want HTTPS", c.ReadinessProbe.HTTPGet.Scheme, c.LivenessProbe.HTTPGet.Scheme)
	}
}
