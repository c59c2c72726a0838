package podinject

import (
	"fmt"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/controllers"
)

// Names that a pod's owner writes, and that the injection puts into the
// pod. The chart, the docs and the end-to-end test use them too.
const (
	// LabelInstance, on a pod, names the WhycacheInstance of the pod's
	// namespace that the pod reads. A label rather than an annotation, so
	// that the webhook configuration's object selector sends the API server
	// to the webhook for these pods only.
	LabelInstance = "whycache.io/instance"
	// AnnotationWaitReady "true" adds the wait-ready init container.
	AnnotationWaitReady = "whycache.io/wait-ready"
	// VolumeName is the instance directory's volume.
	VolumeName = "whycache"
	// MountPath is where every container sees the instance directory.
	MountPath = "/var/run/whycache"
	// EnvDir points the client library's callers and the CLI at MountPath
	// (the CLI's --dir reads it).
	EnvDir = "WHYCACHE_DIR"
	// WaitReadyContainerName is the init container that waits for the
	// node's agent.
	WaitReadyContainerName = "whycache-wait-ready"
)

// waitReadyUser is the init container's user: the image's non-root user.
const waitReadyUser = 65532

// Injection is what a pod that reads an instance gets.
type Injection struct {
	// Dir is the instance's directory on the node.
	Dir string
	// WaitReady adds the init container that waits for the node's agent.
	WaitReady bool
	// Image and PullPolicy are the wait-ready init container's: those of
	// the instance's agents.
	Image      string
	PullPolicy corev1.PullPolicy
	// SocketGroup, when the instance's socket is restricted to a group,
	// is the wait-ready container's group, so that it may ask the agent
	// without the pod's other containers getting write access.
	SocketGroup *int64
}

// InjectionFor is the injection for a pod with these annotations that
// reads inst; defaultImage is the operator's default agent image. A
// wait-ready annotation that is not a boolean is ErrBadAnnotation.
func InjectionFor(inst *whycachev1.WhycacheInstance, annotations map[string]string, defaultImage string) (Injection, error) {
	in := Injection{
		Dir:         controllers.InstanceDir(inst),
		Image:       controllers.Image(inst, defaultImage),
		PullPolicy:  inst.Spec.Agent.ImagePullPolicy,
		SocketGroup: inst.Spec.Agent.Writes.SocketGroup,
	}
	if v, ok := annotations[AnnotationWaitReady]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return Injection{}, fmt.Errorf("%w: %s=%q, want \"true\" or \"false\"", ErrBadAnnotation, AnnotationWaitReady, v)
		}
		in.WaitReady = b
	}
	return in, nil
}

// Inject returns a copy of spec with the injection applied: the volume,
// the init container when asked for, and in every container and init
// container the read-only mount and EnvDir. What the pod already has from
// an earlier call (the API server calls the webhook again when a later
// webhook changed the pod) is kept, not added twice. A volume, mount or
// variable of the same name or path that is not the injection's is a
// conflict (ErrConflict): the pod's owner must remove it or the label,
// and nothing the owner wrote is overwritten.
func Inject(spec *corev1.PodSpec, in Injection) (*corev1.PodSpec, error) {
	out := spec.DeepCopy()
	if err := addVolume(out, in.Dir); err != nil {
		return nil, err
	}
	// An init container of this name is taken to be the one an earlier
	// call added, even if another webhook has changed it since.
	if in.WaitReady && !hasContainer(out.InitContainers, WaitReadyContainerName) {
		// First, so that the other init containers start with a ready cache.
		out.InitContainers = append([]corev1.Container{waitReadyContainer(in)}, out.InitContainers...)
	}
	for i := range out.InitContainers {
		if err := addToContainer(&out.InitContainers[i], "init container"); err != nil {
			return nil, err
		}
	}
	for i := range out.Containers {
		if err := addToContainer(&out.Containers[i], "container"); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// volume is the instance directory's volume. Directory (not
// DirectoryOrCreate): the agent creates the directory; until it has, the
// kubelet keeps the pod waiting instead of creating an empty directory
// owned by root.
func volume(dir string) corev1.Volume {
	return corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{
		HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: ptr.To(corev1.HostPathDirectory)},
	}}
}

func addVolume(spec *corev1.PodSpec, dir string) error {
	want := volume(dir)
	for _, v := range spec.Volumes {
		if v.Name != VolumeName {
			continue
		}
		if !equality.Semantic.DeepEqual(v, want) {
			return fmt.Errorf("the pod has a volume %q that is not the instance's directory %s (hostPath, type Directory): %w",
				VolumeName, dir, ErrConflict)
		}
		return nil
	}
	spec.Volumes = append(spec.Volumes, want)
	return nil
}

func hasContainer(cs []corev1.Container, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// addToContainer adds the read-only mount and EnvDir to c.
func addToContainer(c *corev1.Container, kind string) error {
	mounted := false
	for _, m := range c.VolumeMounts {
		switch {
		case path.Clean(m.MountPath) == MountPath:
			if m.Name != VolumeName || !m.ReadOnly || m.SubPath != "" || m.SubPathExpr != "" {
				return fmt.Errorf("%s %q mounts volume %q at %s (the injection mounts volume %q there, read-only, whole): %w",
					kind, c.Name, m.Name, MountPath, VolumeName, ErrConflict)
			}
			mounted = true
		case m.Name == VolumeName && !m.ReadOnly:
			// The cache file has one writer, the node's agent.
			return fmt.Errorf("%s %q mounts volume %q read-write at %s: %w", kind, c.Name, VolumeName, m.MountPath, ErrConflict)
		}
	}
	if !mounted {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: MountPath, ReadOnly: true})
	}
	for _, e := range c.Env {
		if e.Name != EnvDir {
			continue
		}
		if e.Value != MountPath || e.ValueFrom != nil {
			return fmt.Errorf("%s %q sets %s to something else than %s: %w", kind, c.Name, EnvDir, MountPath, ErrConflict)
		}
		return nil
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: EnvDir, Value: MountPath})
	return nil
}

// waitReadyContainer waits until the node's agent is ready (whycache
// wait-ready asks the agent's socket in the directory), without a time
// limit: the pod is meant to start only on a node whose cache is warm,
// and the command logs what it is waiting for. Its mount and EnvDir are
// added with the other containers'.
func waitReadyContainer(in Injection) corev1.Container {
	sc := controllers.RestrictedSecurityContext()
	// The image's user, whatever the pod's: the pod's supplemental groups
	// still apply, so a socket restricted to a group stays reachable.
	sc.RunAsNonRoot = ptr.To(true)
	sc.RunAsUser = ptr.To[int64](waitReadyUser)
	// Connecting to the socket needs write permission on it.
	if in.SocketGroup != nil {
		sc.RunAsGroup = ptr.To(*in.SocketGroup)
	}
	return corev1.Container{
		Name:            WaitReadyContainerName,
		Image:           in.Image,
		ImagePullPolicy: in.PullPolicy,
		Command:         []string{"whycache", "wait-ready"},
		Args:            []string{"--dir=" + MountPath},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		SecurityContext:          sc,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}
