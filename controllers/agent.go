package controllers

import (
	"path"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

// Labels and annotations that the operator puts on its children.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelManagedBy = "app.kubernetes.io/managed-by"
	// annotationScheduledAt holds a Job's scheduled time (RFC 3339).
	annotationScheduledAt = "whycache.io/scheduled-at"

	managerName       = "whycache-operator"
	componentAgent    = "agent"
	containerAgent    = "agent"
	healthPortName    = "health"
	volumeInstanceDir = "instance-dir"
)

// agentName is the name of an instance's DaemonSet and ServiceAccount.
func agentName(inst *whycachev1.WhycacheInstance) string { return inst.Name + "-agent" }

// InstanceDir is the instance's directory on every node: the agent's
// hostPath, and the directory that the pod webhook mounts into the pods
// that read the instance.
func InstanceDir(inst *whycachev1.WhycacheInstance) string {
	base := inst.Spec.Agent.HostPathBase
	if base == "" {
		base = "/var/lib/whycache"
	}
	return path.Join(base, inst.Namespace, inst.Name)
}

// selectorLabels select an instance's agent pods; they never change, as a
// DaemonSet's selector cannot.
func selectorLabels(inst *whycachev1.WhycacheInstance) map[string]string {
	return map[string]string{labelName: "whycache", labelInstance: inst.Name, labelComponent: componentAgent}
}

// childLabels are the labels of a child of the given component.
func childLabels(inst *whycachev1.WhycacheInstance, component string) map[string]string {
	return map[string]string{labelName: "whycache", labelInstance: inst.Name, labelComponent: component, labelManagedBy: managerName}
}

// desiredServiceAccount is the ServiceAccount of the agents and Jobs. It is
// bound to no role: the agent never talks to the Kubernetes API, and its
// token is not mounted. Annotations carry cloud identities (IRSA).
func desiredServiceAccount(inst *whycachev1.WhycacheInstance) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
		ObjectMeta: metav1.ObjectMeta{
			Name: agentName(inst), Namespace: inst.Namespace,
			Labels:      childLabels(inst, componentAgent),
			Annotations: inst.Spec.ServiceAccount.Annotations,
		},
		AutomountServiceAccountToken: ptr.To(false),
	}
}

// storeEnv is the log store URL from the instance's Secret, and the log's
// name.
func storeEnv(inst *whycachev1.WhycacheInstance) []corev1.EnvVar {
	ref := inst.Spec.LogStore.URLSecretRef
	return []corev1.EnvVar{
		{Name: agentapi.EnvName(agentapi.FlagStore), ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: secretKey(ref),
		}}},
		{Name: agentapi.EnvName(agentapi.FlagLogName), Value: logName(inst)},
	}
}

// nodeGoneAfter is the heartbeat age after which a node counts as gone
// (the CRD defaults it; an hour when absent).
func nodeGoneAfter(inst *whycachev1.WhycacheInstance) time.Duration {
	if d := inst.Spec.HistoryRewrite.NodeGoneAfter; d != nil && d.Duration > 0 {
		return d.Duration
	}
	return time.Hour
}

func secretKey(ref whycachev1.SecretKeyRef) string {
	if ref.Key == "" {
		return "url"
	}
	return ref.Key
}

func logName(inst *whycachev1.WhycacheInstance) string {
	if inst.Spec.LogStore.LogName == "" {
		return "default"
	}
	return inst.Spec.LogStore.LogName
}

// verbosity maps the spec's log level to the agent's -v.
func verbosity(l whycachev1.LogLevel) int {
	switch l {
	case whycachev1.LogLevelDebug:
		return 1
	case whycachev1.LogLevelTrace:
		return 2
	default:
		return 0
	}
}

// cliFlag renders --name=value.
func cliFlag(name, value string) string { return "--" + name + "=" + value }

// agentArgs is the agent's command line after `whycache agent`.
func agentArgs(inst *whycachev1.WhycacheInstance) []string {
	a := inst.Spec.Agent
	l := inst.Spec.Limits
	args := []string{
		cliFlag(agentapi.FlagDir, InstanceDir(inst)),
		cliFlag(agentapi.FlagHealthAddr, ":"+strconv.Itoa(agentapi.DefaultHealthPort)),
		cliFlag(agentapi.FlagLogFormat, "json"),
		cliFlag(agentapi.FlagVerbosity, strconv.Itoa(verbosity(a.LogLevel))),
	}
	if s := inst.Spec.Snapshots; s != nil {
		// A node without a usable file bootstraps from the newest snapshot.
		args = append(args, cliFlag(agentapi.FlagSnapshotURL, snapshotURL(s)))
	}
	if inst.Spec.LogStore.CreateLog {
		args = append(args, cliFlag(agentapi.FlagCreateLog, "true"))
	}
	if a.MaxLag != nil && a.MaxLag.Duration > 0 {
		args = append(args, cliFlag(agentapi.FlagMaxLag, a.MaxLag.Duration.String()))
	}
	for _, f := range []struct {
		name string
		v    int64
	}{
		{agentapi.FlagMaxLagIDs, a.MaxLagIDs}, {agentapi.FlagMaxKeySize, l.MaxKeySize}, {agentapi.FlagMaxValueSize, l.MaxValueSize},
		{agentapi.FlagMaxUpdateSize, l.MaxUpdateSize},
		{agentapi.FlagMaxInFlightBytes, a.Writes.MaxInFlightBytes}, {agentapi.FlagMaxWriteConns, int64(a.Writes.MaxConnections)},
	} {
		if f.v > 0 {
			args = append(args, cliFlag(f.name, strconv.FormatInt(f.v, 10)))
		}
	}
	return append(args, writeArgs(a.Writes)...)
}

// writeArgs are the agent's flags for the socket's access and the write
// timeout (the write bounds are with the other numbers).
func writeArgs(w whycachev1.WritesSpec) []string {
	var args []string
	if w.SocketMode != "" {
		args = append(args, cliFlag(agentapi.FlagSocketMode, w.SocketMode))
	}
	if w.SocketGroup != nil {
		args = append(args, cliFlag(agentapi.FlagSocketGroup, strconv.FormatInt(*w.SocketGroup, 10)))
	}
	if w.Timeout != nil && w.Timeout.Duration > 0 {
		args = append(args, cliFlag(agentapi.FlagWriteTimeout, w.Timeout.Duration.String()))
	}
	return args
}

// goMemLimit is GOMEMLIMIT for a container with these resources: 90% of
// the memory limit, leaving room for what the Go runtime does not count;
// empty without a limit.
func goMemLimit(r corev1.ResourceRequirements) string {
	q, ok := r.Limits[corev1.ResourceMemory]
	if !ok || q.IsZero() {
		return ""
	}
	return strconv.FormatInt(q.Value()/10*9, 10)
}

// httpProbe probes a path of the agent's health port.
func httpProbe(p string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: p, Port: intstr.FromString(healthPortName), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds: period, FailureThreshold: failures, TimeoutSeconds: 5, SuccessThreshold: 1,
	}
}

// RestrictedSecurityContext drops everything a whycache process does not
// need (the agent, the Jobs, the pods' wait-ready init container). It
// sets no user: the image's (65532, nonroot) applies.
func RestrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// agentSecurityContext is RestrictedSecurityContext run as root. The
// kubelet creates the hostPath instance directory owned by root, mode 0755,
// and the image's nonroot user could create neither the cache file nor the
// socket in it. Root without capabilities writes only where the owner may
// (no CAP_DAC_OVERRIDE, no CAP_CHOWN) and cannot escalate.
func agentSecurityContext() *corev1.SecurityContext {
	sc := RestrictedSecurityContext()
	sc.RunAsUser = ptr.To[int64](0)
	sc.RunAsNonRoot = ptr.To(false)
	return sc
}

// agentContainer is the node agent's container.
func agentContainer(inst *whycachev1.WhycacheInstance, image string) corev1.Container {
	a := inst.Spec.Agent
	env := append(storeEnv(inst), corev1.EnvVar{Name: agentapi.EnvNodeName, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"},
	}})
	env = append(env, s3Env(inst.Spec.Snapshots)...)
	if lim := goMemLimit(a.Resources); lim != "" {
		env = append(env, corev1.EnvVar{Name: agentapi.EnvGoMemLimit, Value: lim})
	}
	return corev1.Container{
		Name:    containerAgent,
		Image:   image,
		Command: []string{"whycache", "agent"},
		Args:    agentArgs(inst),
		Env:     env,
		Ports: []corev1.ContainerPort{{
			Name: healthPortName, ContainerPort: agentapi.DefaultHealthPort, Protocol: corev1.ProtocolTCP,
		}},
		Resources: a.Resources,
		// A bootstrap from a snapshot can take long: the startup probe
		// allows 30 minutes before liveness takes over.
		StartupProbe:             httpProbe(agentapi.PathHealthz, 5, 360),
		LivenessProbe:            httpProbe(agentapi.PathHealthz, 10, 3),
		ReadinessProbe:           httpProbe(agentapi.PathReadyz, 5, 1),
		VolumeMounts:             []corev1.VolumeMount{{Name: volumeInstanceDir, MountPath: InstanceDir(inst)}},
		ImagePullPolicy:          a.ImagePullPolicy,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		SecurityContext:          agentSecurityContext(),
	}
}

// desiredDaemonSet is the instance's agent DaemonSet. Its rolling update
// replaces one node's agent at a time and never runs two on a node
// (maxSurge 0: one writer per file); the file on the hostPath stays, so
// the new agent resumes from it.
func desiredDaemonSet(inst *whycachev1.WhycacheInstance, image string) *appsv1.DaemonSet {
	a := inst.Spec.Agent
	grace := a.TerminationGracePeriodSeconds
	if grace == 0 {
		grace = 60
	}
	return &appsv1.DaemonSet{
		TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{
			Name: agentName(inst), Namespace: inst.Namespace, Labels: childLabels(inst, componentAgent),
		},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(inst)},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptr.To(intstr.FromInt32(1)), MaxSurge: ptr.To(intstr.FromInt32(0)),
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: mergeLabels(childLabels(inst, componentAgent), selectorLabels(inst))},
				Spec: corev1.PodSpec{
					ServiceAccountName:            agentName(inst),
					AutomountServiceAccountToken:  ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To(grace),
					PriorityClassName:             a.PriorityClassName,
					NodeSelector:                  a.NodeSelector,
					Tolerations:                   a.Tolerations,
					Containers:                    []corev1.Container{agentContainer(inst, image)},
					Volumes: []corev1.Volume{{Name: volumeInstanceDir, VolumeSource: corev1.VolumeSource{
						HostPath: &corev1.HostPathVolumeSource{Path: InstanceDir(inst), Type: ptr.To(corev1.HostPathDirectoryOrCreate)},
					}}},
				},
			},
		},
	}
}

func mergeLabels(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}
