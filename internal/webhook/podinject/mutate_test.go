package podinject

import (
	"errors"
	"path"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/pkg/agentapi"
)

const testDir = "/var/lib/whycache/apps/flags"

func TestEnvDirIsTheCLIsDirVariable(t *testing.T) {
	if want := agentapi.EnvName(agentapi.FlagDir); EnvDir != want {
		t.Fatalf("EnvDir = %q, the CLI reads --dir from %q", EnvDir, want)
	}
}

func basicSpec() *corev1.PodSpec {
	return &corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "app"}},
		Containers: []corev1.Container{
			{Name: "app", Image: "app", Env: []corev1.EnvVar{{Name: "A", Value: "1"}}},
			{Name: "sidecar", Image: "side", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}},
		},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	}
}

func withContainer(spec *corev1.PodSpec, f func(c *corev1.Container)) *corev1.PodSpec {
	f(&spec.Containers[0])
	return spec
}

func TestInject(t *testing.T) {
	plain := Injection{Dir: testDir, Image: "whycache:test", PullPolicy: corev1.PullIfNotPresent}
	wait := plain
	wait.WaitReady = true
	groupWait := wait
	groupWait.SocketGroup = ptr.To[int64](4000)
	for _, tc := range []struct {
		name     string
		spec     *corev1.PodSpec
		in       Injection
		conflict string // "" when the injection must succeed
	}{
		{name: "plain pod", spec: basicSpec(), in: plain},
		{name: "wait-ready", spec: basicSpec(), in: wait},
		{name: "wait-ready, a group's socket", spec: basicSpec(), in: groupWait},
		{name: "no init containers, wait-ready", spec: &corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}, in: wait},
		{name: "the pod already sets WHYCACHE_DIR to the mount", in: plain, spec: withContainer(basicSpec(), func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: EnvDir, Value: MountPath})
		})},
		{name: "the pod already mounts the volume there, with a trailing slash", in: plain, spec: func() *corev1.PodSpec {
			s := withContainer(basicSpec(), func(c *corev1.Container) {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: MountPath + "/", ReadOnly: true})
			})
			s.Volumes = append(s.Volumes, volume(testDir))
			return s
		}()},
		{name: "the pod mounts the volume read-only elsewhere too", in: plain, spec: func() *corev1.PodSpec {
			s := withContainer(basicSpec(), func(c *corev1.Container) {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: "/cache", ReadOnly: true})
			})
			s.Volumes = append(s.Volumes, volume(testDir))
			return s
		}()},
		{name: "WHYCACHE_DIR set elsewhere", in: plain, conflict: `container "app" sets WHYCACHE_DIR`, spec: withContainer(basicSpec(), func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: EnvDir, Value: "/data"})
		})},
		{name: "WHYCACHE_DIR from a ConfigMap", in: plain, conflict: `container "app" sets WHYCACHE_DIR`, spec: withContainer(basicSpec(), func(c *corev1.Container) {
			c.Env = append(c.Env, corev1.EnvVar{Name: EnvDir, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{Key: "dir"}}})
		})},
		{name: "WHYCACHE_DIR set elsewhere in an init container", in: plain, conflict: `init container "migrate" sets WHYCACHE_DIR`, spec: func() *corev1.PodSpec {
			s := basicSpec()
			s.InitContainers[0].Env = []corev1.EnvVar{{Name: EnvDir, Value: "/x"}}
			return s
		}()},
		{name: "a volume named whycache of another kind", in: plain, conflict: `volume "whycache" that is not the instance's directory`, spec: func() *corev1.PodSpec {
			s := basicSpec()
			s.Volumes = append(s.Volumes, corev1.Volume{Name: VolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			return s
		}()},
		{name: "a volume named whycache of another instance", in: plain, conflict: `volume "whycache" that is not the instance's directory`, spec: func() *corev1.PodSpec {
			s := basicSpec()
			s.Volumes = append(s.Volumes, volume("/var/lib/whycache/apps/other"))
			return s
		}()},
		{name: "another volume at the mount path", in: plain, conflict: `container "sidecar" mounts volume "data" at /var/run/whycache`, spec: func() *corev1.PodSpec {
			s := basicSpec()
			s.Containers[1].VolumeMounts = append(s.Containers[1].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: MountPath})
			return s
		}()},
		{name: "the volume mounted read-write at the mount path", in: plain, conflict: `container "app" mounts volume "whycache" at /var/run/whycache`, spec: func() *corev1.PodSpec {
			s := withContainer(basicSpec(), func(c *corev1.Container) {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: MountPath})
			})
			s.Volumes = append(s.Volumes, volume(testDir))
			return s
		}()},
		{name: "the volume mounted read-write elsewhere", in: plain, conflict: `container "app" mounts volume "whycache" read-write at /cache`, spec: func() *corev1.PodSpec {
			s := withContainer(basicSpec(), func(c *corev1.Container) {
				c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumeName, MountPath: "/cache"})
			})
			s.Volumes = append(s.Volumes, volume(testDir))
			return s
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.spec.DeepCopy()
			got, err := Inject(tc.spec, tc.in)
			if !equality.Semantic.DeepEqual(tc.spec, before) {
				t.Fatal("Inject changed its input")
			}
			if tc.conflict != "" {
				if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.conflict) {
					t.Fatalf("err = %v, want ErrConflict saying %q", err, tc.conflict)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkInjected(t, before, got, tc.in)
			// Called again on its own output (the API server reinvokes the
			// webhook), it changes nothing.
			again, err := Inject(got, tc.in)
			if err != nil {
				t.Fatalf("second call: %v", err)
			}
			if !equality.Semantic.DeepEqual(again, got) {
				t.Fatalf("second call changed the pod:\nfirst  %+v\nsecond %+v", got, again)
			}
		})
	}
}

// checkInjected checks the injection's invariants on got, made from before.
func checkInjected(t *testing.T, before, got *corev1.PodSpec, in Injection) {
	t.Helper()
	vols := 0
	for _, v := range got.Volumes {
		if v.Name == VolumeName {
			vols++
			if v.HostPath == nil || v.HostPath.Path != in.Dir || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathDirectory {
				t.Errorf("volume %+v, want hostPath %s of type Directory", v, in.Dir)
			}
		}
	}
	if vols != 1 || len(got.Volumes) != len(before.Volumes)+1-countVolume(before) {
		t.Errorf("volumes %+v: want the pod's and one %q", got.Volumes, VolumeName)
	}
	wantInit := len(before.InitContainers)
	if in.WaitReady && !hasContainer(before.InitContainers, WaitReadyContainerName) {
		wantInit++
		w := got.InitContainers[0]
		if w.Name != WaitReadyContainerName || w.Image != in.Image || w.ImagePullPolicy != in.PullPolicy {
			t.Errorf("first init container %s image %s policy %s, want %s %s %s", w.Name, w.Image, w.ImagePullPolicy, WaitReadyContainerName, in.Image, in.PullPolicy)
		}
		sc := w.SecurityContext
		if sc != nil && !equality.Semantic.DeepEqual(sc.RunAsGroup, in.SocketGroup) {
			t.Errorf("wait-ready runAsGroup %v, want the socket's group %v", sc.RunAsGroup, in.SocketGroup)
		}
		if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || ptr.Deref(sc.AllowPrivilegeEscalation, true) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("wait-ready security context %+v is not restricted", sc)
		}
	}
	if len(got.InitContainers) != wantInit || len(got.Containers) != len(before.Containers) {
		t.Fatalf("%d init containers and %d containers, want %d and %d", len(got.InitContainers), len(got.Containers), wantInit, len(before.Containers))
	}
	for _, c := range append(append([]corev1.Container{}, got.InitContainers...), got.Containers...) {
		mounts, envs := 0, 0
		for _, m := range c.VolumeMounts {
			if path.Clean(m.MountPath) == MountPath {
				mounts++
				if m.Name != VolumeName || !m.ReadOnly {
					t.Errorf("container %s: mount %+v, want %s read-only", c.Name, m, VolumeName)
				}
			}
		}
		for _, e := range c.Env {
			if e.Name == EnvDir {
				envs++
				if e.Value != MountPath {
					t.Errorf("container %s: %s=%s, want %s", c.Name, EnvDir, e.Value, MountPath)
				}
			}
		}
		if mounts != 1 || envs != 1 {
			t.Errorf("container %s: %d mounts at %s and %d %s, want one each", c.Name, mounts, MountPath, envs, EnvDir)
		}
	}
	// The pod's own settings are kept.
	for i, c := range before.Containers {
		for _, e := range c.Env {
			if !containsEnv(got.Containers[i].Env, e) {
				t.Errorf("container %s lost env %+v", c.Name, e)
			}
		}
	}
}

func countVolume(s *corev1.PodSpec) int {
	n := 0
	for _, v := range s.Volumes {
		if v.Name == VolumeName {
			n++
		}
	}
	return n
}

func containsEnv(env []corev1.EnvVar, e corev1.EnvVar) bool {
	for _, x := range env {
		if equality.Semantic.DeepEqual(x, e) {
			return true
		}
	}
	return false
}

func TestInjectionFor(t *testing.T) {
	inst := func(f func(i *whycachev1.WhycacheInstance)) *whycachev1.WhycacheInstance {
		i := &whycachev1.WhycacheInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "flags"}}
		if f != nil {
			f(i)
		}
		return i
	}
	for _, tc := range []struct {
		name        string
		inst        *whycachev1.WhycacheInstance
		annotations map[string]string
		want        Injection
		wantErr     bool
	}{
		{name: "defaults", inst: inst(nil), want: Injection{Dir: testDir, Image: "default:1"}},
		{name: "wait-ready true", inst: inst(nil), annotations: map[string]string{AnnotationWaitReady: "true"},
			want: Injection{Dir: testDir, Image: "default:1", WaitReady: true}},
		{name: "wait-ready false", inst: inst(nil), annotations: map[string]string{AnnotationWaitReady: "false"},
			want: Injection{Dir: testDir, Image: "default:1"}},
		{name: "wait-ready not a boolean", inst: inst(nil), annotations: map[string]string{AnnotationWaitReady: "yes please"}, wantErr: true},
		{name: "the instance's base, image and pull policy", inst: inst(func(i *whycachev1.WhycacheInstance) {
			i.Spec.Agent.HostPathBase = "/mnt/fast"
			i.Spec.Agent.Image = "mirror/whycache:2"
			i.Spec.Agent.ImagePullPolicy = corev1.PullAlways
		}), want: Injection{Dir: "/mnt/fast/apps/flags", Image: "mirror/whycache:2", PullPolicy: corev1.PullAlways}},
		{name: "a group's socket", inst: inst(func(i *whycachev1.WhycacheInstance) {
			i.Spec.Agent.Writes.SocketGroup = ptr.To[int64](4000)
		}), want: Injection{Dir: testDir, Image: "default:1", SocketGroup: ptr.To[int64](4000)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := InjectionFor(tc.inst, tc.annotations, "default:1")
			if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrBadAnnotation)) {
				t.Fatalf("err = %v, want ErrBadAnnotation %v", err, tc.wantErr)
			}
			if !equality.Semantic.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
