package podinject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
)

// The webhook configuration, generated from these markers by `make
// manifests` into config/webhook/manifests.yaml. The object selector sends
// only the pods that ask for an instance; failurePolicy Ignore never
// blocks a pod because the operator is down (such a pod starts without
// the mount); the API server calls the webhook again when a later webhook
// changed the pod (reinvocationPolicy IfNeeded), and the injection is
// idempotent.
//
// +kubebuilder:webhookconfiguration:mutating=true,name=whycache-mutating-webhook-configuration
// +kubebuilder:webhook:path=/mutate--v1-pod,mutating=true,failurePolicy=ignore,sideEffects=None,groups="",resources=pods,verbs=create,versions=v1,name=pods.whycache.io,admissionReviewVersions=v1,reinvocationPolicy=IfNeeded,timeoutSeconds=5,serviceName=whycache-webhook-service,serviceNamespace=whycache-system,patch=`{"objectSelector":{"matchExpressions":[{"key":"whycache.io/instance","operator":"Exists"}]}}`

// Path is where the webhook is served.
const Path = "/mutate--v1-pod"

// Handler answers the API server's admission reviews of pod creations.
//
// A pod that names an instance its namespace does not have is denied, with
// a message that says so, rather than admitted without the mount: its
// label says it needs the cache, and without it it would fail later with a
// less clear error, or run without the data it expects. The denial shows
// at once in kubectl's answer or in the ReplicaSet's FailedCreate events,
// and the controllers that create pods retry, so the pods come once the
// instance exists (apply the instance before, or with, its readers).
// Any other pod the webhook cannot mutate (a conflict, an unreadable
// instance) is denied the same way.
type Handler struct {
	// Instances reads WhycacheInstances. The manager passes its API reader
	// (no cache), so that a pod created right after its instance finds it.
	Instances client.Reader
	// Decoder decodes the pods of the requests.
	Decoder admission.Decoder
	// DefaultImage is the operator's default agent image, for the
	// wait-ready init container of an instance that names none.
	DefaultImage string
}

var _ admission.Handler = (*Handler)(nil)

// Handle answers one admission review.
func (h *Handler) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Kind.Group != "" || req.Kind.Kind != "Pod" || req.Operation != admissionv1.Create || req.SubResource != "" {
		return admission.Allowed("not a pod creation")
	}
	pod := &corev1.Pod{}
	if err := h.Decoder.Decode(req, pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decode the pod: %w", err))
	}
	name, ok := pod.Labels[LabelInstance]
	if !ok {
		return admission.Allowed("the pod asks for no whycache instance")
	}
	log := logf.FromContext(ctx).WithValues("instance", name)
	spec, err := h.mutate(ctx, req.Namespace, name, pod)
	if err != nil {
		log.Info("denying a pod", "reason", err.Error())
		msg := fmt.Sprintf("the pod asks for whycache instance %q (label %s): %v", name, LabelInstance, err)
		if errors.Is(err, ErrNoInstance) || errors.Is(err, ErrConflict) || errors.Is(err, ErrBadAnnotation) {
			return admission.Denied(msg)
		}
		return admission.Errored(http.StatusInternalServerError, errors.New(msg))
	}
	pod.Spec = *spec
	raw, err := json.Marshal(pod)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("encode the pod: %w", err))
	}
	log.V(1).Info("injecting the instance directory", "namespace", req.Namespace)
	return admission.PatchResponseFromRaw(req.Object.Raw, raw)
}

// mutate reads the instance and returns the pod's injected spec.
func (h *Handler) mutate(ctx context.Context, namespace, name string, pod *corev1.Pod) (*corev1.PodSpec, error) {
	if name == "" {
		return nil, fmt.Errorf("the label is empty: %w", ErrNoInstance)
	}
	var inst whycachev1.WhycacheInstance
	if err := h.Instances.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &inst); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("namespace %q has no WhycacheInstance %q; create it, or remove the label: %w", namespace, name, ErrNoInstance)
		}
		return nil, fmt.Errorf("read the WhycacheInstance: %w", err)
	}
	in, err := InjectionFor(&inst, pod.Annotations, h.DefaultImage)
	if err != nil {
		return nil, err
	}
	return Inject(&pod.Spec, in)
}
