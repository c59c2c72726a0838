package controllers

import (
	"slices"
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
		{"asked for, not ready yet: agents stay on the store", relayInput{Wanted: true}, relayPlan{Apply: true}},
		{"asked for and ready: agents move", relayInput{Wanted: true, Exists: true, Ready: true}, relayPlan{Apply: true, PointAgents: true}},
		{"agents on the relay stay there while it rolls out", relayInput{Wanted: true, Exists: true, AgentsOnRelay: true}, relayPlan{Apply: true, PointAgents: true}},
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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := relayStoreURL(relayInstance(tt.mutate)); got != tt.want {
				t.Errorf("relayStoreURL = %q, want %q", got, tt.want)
			}
		})
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
	svc := desiredRelayService(inst)
	if svc.Name != "cache-relay" || svc.Spec.Ports[0].Port != 7500 || svc.Spec.Ports[0].TargetPort.StrVal != relayPortName ||
		svc.Spec.Selector[labelComponent] != componentRelay {
		t.Errorf("service %+v", svc.Spec)
	}
}
