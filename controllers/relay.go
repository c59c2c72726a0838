package controllers

import (
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

// The relay tier's names and defaults.
const (
	componentRelay   = "relay"
	containerRelay   = "relay"
	relayPortName    = "relay"
	volumeRelayToken = "relay-token"
	// relayTokenDir is where the relay's token Secret is mounted, in the
	// relay pods and in the agent pods.
	relayTokenDir  = "/var/run/whycache-relay"
	relayTokenFile = relayTokenDir + "/token"
	// relayUID is the image's non-root user.
	relayUID = 65532

	defaultRelayPort     = 7480
	defaultRelayReplicas = 2
)

// relayName is the name of an instance's relay Deployment and Service.
func relayName(inst *whycachev1.WhycacheInstance) string { return inst.Name + "-relay" }

func relayPort(r *whycachev1.RelaySpec) int32 {
	if r.Port == 0 {
		return defaultRelayPort
	}
	return r.Port
}

func relayReplicas(r *whycachev1.RelaySpec) int32 {
	if r.Replicas == 0 {
		return defaultRelayReplicas
	}
	return r.Replicas
}

// relayStoreURL is the store URL of the agents of an instance with a relay:
// its Service, and the token file when there is a token.
func relayStoreURL(inst *whycachev1.WhycacheInstance) string {
	r := inst.Spec.Relay
	u := "relay://" + relayName(inst) + "." + inst.Namespace + ".svc:" + strconv.Itoa(int(relayPort(r)))
	if r.TokenSecretRef != nil {
		// The path holds no character that a query must escape.
		u += "?token-file=" + relayTokenFile
	}
	return u
}

func relaySelectorLabels(inst *whycachev1.WhycacheInstance) map[string]string {
	return map[string]string{labelName: "whycache", labelInstance: inst.Name, labelComponent: componentRelay}
}

// relayTokenVolume is the token Secret as a volume holding one file,
// "token"; nil without a token.
func relayTokenVolume(r *whycachev1.RelaySpec) []corev1.Volume {
	ref := r.TokenSecretRef
	if ref == nil {
		return nil
	}
	key := ref.Key
	if key == "" {
		key = "token"
	}
	return []corev1.Volume{{Name: volumeRelayToken, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: ref.Name, Items: []corev1.KeyToPath{{Key: key, Path: "token"}}, DefaultMode: ptr.To[int32](0o440),
	}}}}
}

func relayTokenMount(r *whycachev1.RelaySpec) []corev1.VolumeMount {
	if r.TokenSecretRef == nil {
		return nil
	}
	return []corev1.VolumeMount{{Name: volumeRelayToken, MountPath: relayTokenDir, ReadOnly: true}}
}

// relayArgs is the relay's command line after `whycache relay`.
func relayArgs(r *whycachev1.RelaySpec) []string {
	args := []string{"--listen=:" + strconv.Itoa(int(relayPort(r)))}
	if r.TokenSecretRef != nil {
		args = append(args, "--token-file="+relayTokenFile)
	}
	return args
}

// relayProbe probes a path of the relay's port.
func relayProbe(p string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: p, Port: intstr.FromString(relayPortName), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 5, SuccessThreshold: 1,
	}
}

// relayContainer is the relay's container: the store URL from the same
// Secret as the agents', no privileges, the image's non-root user.
func relayContainer(inst *whycachev1.WhycacheInstance, image string) corev1.Container {
	r := inst.Spec.Relay
	env := storeEnv(inst)
	if lim := goMemLimit(r.Resources); lim != "" {
		env = append(env, corev1.EnvVar{Name: agentapi.EnvGoMemLimit, Value: lim})
	}
	return corev1.Container{
		Name:    containerRelay,
		Image:   image,
		Command: []string{"whycache", "relay"},
		Args:    relayArgs(r),
		Env:     env,
		Ports: []corev1.ContainerPort{{
			Name: relayPortName, ContainerPort: relayPort(r), Protocol: corev1.ProtocolTCP,
		}},
		Resources:                r.Resources,
		LivenessProbe:            relayProbe(agentapi.PathHealthz, 10, 3),
		ReadinessProbe:           relayProbe(agentapi.PathReadyz, 5, 1),
		VolumeMounts:             relayTokenMount(r),
		ImagePullPolicy:          inst.Spec.Agent.ImagePullPolicy,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			RunAsNonRoot:             ptr.To(true),
			RunAsUser:                ptr.To[int64](relayUID),
			RunAsGroup:               ptr.To[int64](relayUID),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// desiredRelayDeployment is the instance's relay Deployment. A rollout
// starts a new relay before it stops an old one, and the relays prefer
// different nodes, so that agents always find one.
func desiredRelayDeployment(inst *whycachev1.WhycacheInstance, image string) *appsv1.Deployment {
	r := inst.Spec.Relay
	return &appsv1.Deployment{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{
			Name: relayName(inst), Namespace: inst.Namespace, Labels: childLabels(inst, componentRelay),
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(relayReplicas(r)),
			Selector: &metav1.LabelSelector{MatchLabels: relaySelectorLabels(inst)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)), MaxSurge: ptr.To(intstr.FromInt32(1)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: mergeLabels(childLabels(inst, componentRelay), relaySelectorLabels(inst))},
				Spec: corev1.PodSpec{
					ServiceAccountName:           agentName(inst),
					AutomountServiceAccountToken: ptr.To(false),
					SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
								LabelSelector: &metav1.LabelSelector{MatchLabels: relaySelectorLabels(inst)},
								TopologyKey:   corev1.LabelHostname,
							},
						}},
					}},
					Containers: []corev1.Container{relayContainer(inst, image)},
					Volumes:    relayTokenVolume(r),
				},
			},
		},
	}
}

// desiredRelayService is the Service in front of the relays.
func desiredRelayService(inst *whycachev1.WhycacheInstance) *corev1.Service {
	port := relayPort(inst.Spec.Relay)
	return &corev1.Service{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{
			Name: relayName(inst), Namespace: inst.Namespace, Labels: childLabels(inst, componentRelay),
		},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: relaySelectorLabels(inst),
			Ports: []corev1.ServicePort{{
				Name: relayPortName, Port: port, TargetPort: intstr.FromString(relayPortName), Protocol: corev1.ProtocolTCP,
			}},
		},
	}
}

// pointAgentsAtRelay makes the agent DaemonSet ds open the instance's
// relay instead of the store, with the token file mounted when there is a
// token.
func pointAgentsAtRelay(ds *appsv1.DaemonSet, inst *whycachev1.WhycacheInstance) {
	r := inst.Spec.Relay
	spec := &ds.Spec.Template.Spec
	storeVar := agentapi.EnvName(agentapi.FlagStore)
	for i := range spec.Containers {
		c := &spec.Containers[i]
		if c.Name != containerAgent {
			continue
		}
		for j := range c.Env {
			if c.Env[j].Name == storeVar {
				c.Env[j] = corev1.EnvVar{Name: storeVar, Value: relayStoreURL(inst)}
			}
		}
		c.VolumeMounts = append(c.VolumeMounts, relayTokenMount(r)...)
	}
	spec.Volumes = append(spec.Volumes, relayTokenVolume(r)...)
}

// agentsOnRelay reports whether the agent DaemonSet ds opens a relay.
func agentsOnRelay(ds *appsv1.DaemonSet) bool {
	if ds == nil {
		return false
	}
	storeVar := agentapi.EnvName(agentapi.FlagStore)
	for _, c := range ds.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if c.Name == containerAgent && e.Name == storeVar && e.ValueFrom == nil && strings.HasPrefix(e.Value, "relay://") {
				return true
			}
		}
	}
	return false
}
