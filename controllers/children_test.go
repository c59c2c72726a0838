package controllers

import (
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

func TestAgentDaemonSetAndServiceAccount(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	inst := createInstance(t, ns, "flags", func(i *whycachev1.WhycacheInstance) {
		a := &i.Spec.Agent
		a.HostPathBase = "/srv/whycache"
		a.NodeSelector = map[string]string{"whycache.io/flags": "true"}
		a.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "cache", Effect: corev1.TaintEffectNoSchedule}}
		a.Resources = corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1000Mi")},
		}
		a.PriorityClassName = "system-node-critical"
		a.LogLevel = whycachev1.LogLevelDebug
		i.Spec.LogStore.LogName = "flags"
		i.Spec.LogStore.CreateLog = true
		i.Spec.ServiceAccount.Annotations = map[string]string{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x"}
	})
	r := newTestReconciler(t, time.Now())
	r.reconcileAt(t, inst, time.Now())

	var sa corev1.ServiceAccount
	if err := admin.Get(t.Context(), key(ns, "flags-agent"), &sa); err != nil {
		t.Fatal(err)
	}
	mustf(t, metav1.IsControlledBy(&sa, inst), "ServiceAccount not controlled by the instance: %+v", sa.OwnerReferences)
	mustf(t, sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken, "ServiceAccount mounts its token")
	mustf(t, sa.Annotations["eks.amazonaws.com/role-arn"] == "arn:aws:iam::1:role/x", "ServiceAccount annotations = %v", sa.Annotations)

	ds := getDaemonSet(t, inst)
	mustf(t, metav1.IsControlledBy(ds, inst), "DaemonSet not controlled by the instance: %+v", ds.OwnerReferences)
	ru := ds.Spec.UpdateStrategy.RollingUpdate
	mustf(t, ru != nil && ru.MaxSurge.IntValue() == 0 && ru.MaxUnavailable.IntValue() == 1, "rolling update = %+v, want one node at a time, no surge", ru)
	pod := ds.Spec.Template.Spec
	mustf(t, pod.ServiceAccountName == "flags-agent", "serviceAccountName = %q", pod.ServiceAccountName)
	mustf(t, pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken, "the agent pod mounts a token")
	mustf(t, *pod.TerminationGracePeriodSeconds == 60, "terminationGracePeriodSeconds = %d", *pod.TerminationGracePeriodSeconds)
	mustf(t, pod.NodeSelector["whycache.io/flags"] == "true", "nodeSelector = %v", pod.NodeSelector)
	mustf(t, len(pod.Tolerations) == 1 && pod.Tolerations[0].Key == "dedicated", "tolerations = %+v", pod.Tolerations)
	mustf(t, pod.PriorityClassName == "system-node-critical", "priorityClassName = %q", pod.PriorityClassName)
	wantDir := "/srv/whycache/" + ns + "/flags"
	mustf(t, len(pod.Volumes) == 1 && pod.Volumes[0].HostPath != nil && pod.Volumes[0].HostPath.Path == wantDir &&
		*pod.Volumes[0].HostPath.Type == corev1.HostPathDirectoryOrCreate, "volumes = %+v, want hostPath %s", pod.Volumes, wantDir)

	c := pod.Containers[0]
	mustf(t, c.Image == testImage, "image = %q", c.Image)
	mustf(t, slices.Equal(c.Command, []string{"whycache", "agent"}), "command = %v", c.Command)
	for _, a := range []string{"--dir=" + wantDir, "--health-addr=:8081", "--create-log=true", "--v=1", "--max-lag=30s", "--max-lag-ids=10000", "--max-key-size=65536"} {
		mustf(t, slices.Contains(c.Args, a), "args %v lack %s", c.Args, a)
	}
	mustf(t, len(c.VolumeMounts) == 1 && c.VolumeMounts[0].MountPath == wantDir, "mounts = %+v", c.VolumeMounts)
	env := envByName(c)
	store := env[agentapi.EnvName(agentapi.FlagStore)]
	mustf(t, store.ValueFrom != nil && store.ValueFrom.SecretKeyRef != nil && store.ValueFrom.SecretKeyRef.Name == "flags-store" &&
		store.ValueFrom.SecretKeyRef.Key == "url", "WHYCACHE_STORE = %+v, want the Secret's key", store)
	mustf(t, env["WHYCACHE_LOG_NAME"].Value == "flags", "WHYCACHE_LOG_NAME = %+v", env["WHYCACHE_LOG_NAME"])
	node := env[agentapi.EnvNodeName]
	mustf(t, node.ValueFrom != nil && node.ValueFrom.FieldRef != nil && node.ValueFrom.FieldRef.FieldPath == "spec.nodeName", "NODE_NAME = %+v", node)
	mustf(t, env["GOMEMLIMIT"].Value == "943718400", "GOMEMLIMIT = %q, want 90%% of 1000Mi", env["GOMEMLIMIT"].Value)
	mustf(t, c.Resources.Limits.Memory().String() == "1000Mi" && c.Resources.Requests.Cpu().String() == "100m", "resources = %+v", c.Resources)
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"startup", c.StartupProbe, "/healthz"}} {
		mustf(t, p.probe != nil && p.probe.HTTPGet != nil && p.probe.HTTPGet.Path == p.path && p.probe.HTTPGet.Port.StrVal == "health",
			"%s probe = %+v, want %s on the health port", p.name, p.probe, p.path)
	}
	mustf(t, len(c.Ports) == 1 && c.Ports[0].ContainerPort == agentapi.DefaultHealthPort, "ports = %+v", c.Ports)
	mustf(t, c.SecurityContext != nil && *c.SecurityContext.ReadOnlyRootFilesystem && !*c.SecurityContext.AllowPrivilegeEscalation, "securityContext = %+v", c.SecurityContext)
	// The image's user is nonroot; the kubelet makes the hostPath directory
	// root's, so the agent must run as root (with no capabilities) to create
	// its file and socket there.
	sc := c.SecurityContext
	mustf(t, sc.RunAsUser != nil && *sc.RunAsUser == 0 && sc.RunAsNonRoot != nil && !*sc.RunAsNonRoot, "agent runAsUser = %v, runAsNonRoot = %v; want root", sc.RunAsUser, sc.RunAsNonRoot)
	mustf(t, sc.Capabilities != nil && len(sc.Capabilities.Drop) == 1 && sc.Capabilities.Drop[0] == "ALL" && len(sc.Capabilities.Add) == 0, "agent capabilities = %+v", sc.Capabilities)
}

func TestSpecChangeRollsDaemonSet(t *testing.T) {
	needEnv(t)
	ns := testNamespace(t)
	inst := createInstance(t, ns, "roll", nil)
	r := newTestReconciler(t, time.Now())
	r.reconcileAt(t, inst, time.Now())
	before := getDaemonSet(t, inst)

	// A reconcile with nothing changed leaves the DaemonSet alone.
	r.reconcileAt(t, getInstance(t, ns, "roll"), time.Now())
	if same := getDaemonSet(t, inst); same.Generation != before.Generation {
		t.Fatalf("an unchanged spec moved the DaemonSet from generation %d to %d", before.Generation, same.Generation)
	}

	inst = getInstance(t, ns, "roll")
	inst.Spec.Agent.Image = "whycache:v2"
	inst.Spec.Agent.MaxLag = &metav1.Duration{Duration: 45 * time.Second}
	if err := admin.Update(t.Context(), inst); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, getInstance(t, ns, "roll"), time.Now())
	after := getDaemonSet(t, inst)
	if after.Generation <= before.Generation {
		t.Fatalf("DaemonSet generation %d after a spec change, was %d: no rollout", after.Generation, before.Generation)
	}
	c := after.Spec.Template.Spec.Containers[0]
	mustf(t, c.Image == "whycache:v2", "image = %q after the change", c.Image)
	mustf(t, slices.Contains(c.Args, "--max-lag=45s"), "args = %v, want --max-lag=45s", c.Args)

	// A hand edit of a field the operator owns is put back.
	after.Spec.Template.Spec.Containers[0].Image = "someone-else:latest"
	if err := admin.Update(t.Context(), after); err != nil {
		t.Fatal(err)
	}
	r.reconcileAt(t, getInstance(t, ns, "roll"), time.Now())
	if img := getDaemonSet(t, inst).Spec.Template.Spec.Containers[0].Image; img != "whycache:v2" {
		t.Errorf("image = %q after a hand edit and a reconcile, want whycache:v2", img)
	}
}
