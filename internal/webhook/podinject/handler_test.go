package podinject

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	whycachev1 "github.com/whycache/whycache/api/v1alpha1"
	"github.com/whycache/whycache/controllers"
)

// TestHandler covers what the API server never sends with the generated
// configuration (its selector and rules keep them away), and the
// handler's answers, without an API server.
func TestHandler(t *testing.T) {
	scheme := controllers.NewScheme()
	inst := &whycachev1.WhycacheInstance{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "flags"}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(inst).Build()
	broken := fake.NewClientBuilder().WithScheme(scheme).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return errors.New("connection reset")
		},
	}).Build()
	pod := func(labels map[string]string) runtime.RawExtension {
		p := testPod("apps", "p", labels, nil)
		p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: raw}
	}
	req := func(op admissionv1.Operation, kind string, obj runtime.RawExtension) admission.Request {
		return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
			UID: "1", Namespace: "apps", Operation: op, Object: obj,
			Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
		}}
	}
	labelled := map[string]string{LabelInstance: "flags"}
	for _, tc := range []struct {
		name    string
		reader  client.Reader
		req     admission.Request
		allowed bool
		patched bool
		code    int32
		message string
	}{
		{name: "unlabelled pod", reader: reader, req: req(admissionv1.Create, "Pod", pod(nil)), allowed: true},
		{name: "update", reader: reader, req: req(admissionv1.Update, "Pod", pod(labelled)), allowed: true},
		{name: "not a pod", reader: reader, req: req(admissionv1.Create, "Secret", pod(labelled)), allowed: true},
		{name: "labelled pod", reader: reader, req: req(admissionv1.Create, "Pod", pod(labelled)), allowed: true, patched: true},
		{name: "empty label", reader: reader, req: req(admissionv1.Create, "Pod", pod(map[string]string{LabelInstance: ""})),
			code: http.StatusForbidden, message: "the label is empty"},
		{name: "missing instance", reader: reader, req: req(admissionv1.Create, "Pod", pod(map[string]string{LabelInstance: "nope"})),
			code: http.StatusForbidden, message: `namespace "apps" has no WhycacheInstance "nope"`},
		{name: "instance unreadable", reader: broken, req: req(admissionv1.Create, "Pod", pod(labelled)),
			code: http.StatusInternalServerError, message: "read the WhycacheInstance: connection reset"},
		{name: "not JSON", reader: reader, req: req(admissionv1.Create, "Pod", runtime.RawExtension{Raw: []byte("{")}),
			code: http.StatusBadRequest, message: "decode the pod"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Handler{Instances: tc.reader, Decoder: admission.NewDecoder(scheme), DefaultImage: testImage}
			resp := h.Handle(t.Context(), tc.req)
			if resp.Allowed != tc.allowed || (len(resp.Patches) > 0) != tc.patched {
				t.Fatalf("allowed %v with %d patches (%+v), want %v, patched %v", resp.Allowed, len(resp.Patches), resp.Result, tc.allowed, tc.patched)
			}
			if tc.allowed {
				return
			}
			if resp.Result == nil || resp.Result.Code != tc.code || !strings.Contains(resp.Result.Message, tc.message) {
				t.Fatalf("result %+v, want code %d saying %q", resp.Result, tc.code, tc.message)
			}
		})
	}
}
