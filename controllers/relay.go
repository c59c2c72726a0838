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
	// relayTLSDir is where the relay's TLS Secret is mounted: the
	// certificate and key in the relay pods, the CA alone in the agent
	// pods (volumeRelayTLS and volumeRelayCA).
	relayTLSDir    = "/var/run/whycache-relay-tls"
	relayCAFile    = relayTLSDir + "/" + relayCAPath
	volumeRelayTLS = "relay-tls"
	volumeRelayCA  = "relay-ca"
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
	u := "relay://" + relayHost(inst) + ":" + strconv.Itoa(int(relayPort(r)))
	// The paths hold no character that a query must escape.
	var query []string
	if r.TokenSecretRef != nil {
		query = append(query, "token-file="+relayTokenFile)
	}
	if r.TLS != nil {
		query = append(query, "tls=true", "ca-file="+relayCAFile)
	}
	if len(query) > 0 {
		u += "?" + strings.Join(query, "&")
	}
	return u
}

// relayHost is the DNS name of the relay Service, which the agents dial
// and the relays' certificate must name.
func relayHost(inst *whycachev1.WhycacheInstance) string {
	return relayName(inst) + "." + inst.Namespace + ".svc"
}

func relaySelectorLabels(inst *whycachev1.WhycacheInstance) map[string]string {
	return map[string]string{labelName: "whycache", labelInstance: inst.Name, labelComponent: componentRelay}
}

// relayVolumes are the relay pods' volumes: the token, and the TLS
// certificate and key.
func relayVolumes(r *whycachev1.RelaySpec) []corev1.Volume {
	return append(relayTokenVolume(r), relayTLSVolume(r)...)
}

// relayMounts are the relay container's mounts of relayVolumes.
func relayMounts(r *whycachev1.RelaySpec) []corev1.VolumeMount {
	return append(relayTokenMount(r), relayTLSMount(r, volumeRelayTLS)...)
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
	if r.TLS != nil {
		args = append(args, "--tls-cert-file="+relayTLSDir+"/"+corev1.TLSCertKey, "--tls-key-file="+relayTLSDir+"/"+corev1.TLSPrivateKeyKey)
	}
	return args
}

// relayProbe probes a path of the relay's port, over TLS when the relay
// serves TLS (the kubelet does not verify the certificate of a probe).
func relayProbe(r *whycachev1.RelaySpec, p string, period, failures int32) *corev1.Probe {
	scheme := corev1.URISchemeHTTP
	if r.TLS != nil {
		scheme = corev1.URISchemeHTTPS
	}
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: p, Port: intstr.FromString(relayPortName), Scheme: scheme,
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
		LivenessProbe:            relayProbe(r, agentapi.PathHealthz, 10, 3),
		ReadinessProbe:           relayProbe(r, agentapi.PathReadyz, 5, 1),
		VolumeMounts:             relayMounts(r),
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
					// fsGroup makes the kubelet give the mounted Secrets'
					// files (mode 0440) to the relay's group: the relay
					// runs as a user that does not own them.
					SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), FSGroup: ptr.To[int64](relayUID)},
					Affinity: &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
						PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
							Weight: 100, PodAffinityTerm: corev1.PodAffinityTerm{
								LabelSelector: &metav1.LabelSelector{MatchLabels: relaySelectorLabels(inst)},
								TopologyKey:   corev1.LabelHostname,
							},
						}},
					}},
					Containers: []corev1.Container{relayContainer(inst, image)},
					Volumes:    relayVolumes(r),
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
// token and the CA certificate (never the relay's key) when there is TLS.
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
		c.VolumeMounts = append(c.VolumeMounts, relayTLSMount(r, volumeRelayCA)...)
	}
	spec.Volumes = append(spec.Volumes, relayTokenVolume(r)...)
	spec.Volumes = append(spec.Volumes, relayCAVolume(r)...)
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
