package podinject

import (
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"

	"github.com/whycache/whycache/internal/kubetest"
)

// TestWebhookRoleIsLeast asks the API server what the operator's
// ServiceAccount may do with what the webhook's certificate rotation
// touches: its own webhook configuration and its own namespace's Secrets,
// nothing more.
func TestWebhookRoleIsLeast(t *testing.T) {
	needEnv(t)
	for _, tc := range []struct {
		verb, group, resource, namespace, name string
		allowed                                bool
	}{
		{"watch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", "", true},
		{"update", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", configName, true},
		{"patch", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", configName, true},
		{"update", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", "someone-elses", false},
		{"delete", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", configName, false},
		{"create", "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "", "", false},
		{"update", "admissionregistration.k8s.io", "validatingwebhookconfigurations", "", configName, false},
		{"watch", "", "secrets", operatorNamespace, "", true},
		{"update", "", "secrets", operatorNamespace, secretName, true},
		{"create", "", "secrets", operatorNamespace, "", true},
		{"create", "", "secrets", "some-app", "", false},
		{"delete", "", "secrets", operatorNamespace, secretName, false},
		{"watch", "", "secrets", "some-app", "", false},
		{"update", "", "secrets", "some-app", "x", false},
		{"get", "whycache.io", "whycacheinstances", "some-app", "x", true},
	} {
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   kubetest.ServiceAccountUser(operatorNamespace, operatorSA),
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + operatorNamespace, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: tc.namespace, Verb: tc.verb, Group: tc.group, Resource: tc.resource, Name: tc.name,
			},
		}}
		if err := admin.Create(t.Context(), sar); err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != tc.allowed {
			t.Errorf("%s %s/%s %s/%s: allowed = %v, want %v", tc.verb, tc.group, tc.resource, tc.namespace, tc.name, sar.Status.Allowed, tc.allowed)
		}
	}
}
