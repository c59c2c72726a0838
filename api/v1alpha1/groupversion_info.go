// Package v1alpha1 is the whycache.io/v1alpha1 API: the WhycacheInstance
// resource, which asks the operator to run a node agent on every selected
// node, keeping one instance's cache file up to date from its log store,
// and to take snapshots and rewrite the log's history on a schedule.
//
// The package holds types and kubebuilder markers only; the CRD under
// config/crd/bases and zz_generated.deepcopy.go are generated from it
// (`make generate manifests`).
//
// +kubebuilder:object:generate=true
// +groupName=whycache.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of this API.
	GroupVersion = schema.GroupVersion{Group: "whycache.io", Version: "v1alpha1"}

	// SchemeBuilder registers this API's types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds this API's types to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// addKnownTypes registers the types of this API (the package depends on
// apimachinery only, so that clients can import it cheaply).
func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &WhycacheInstance{}, &WhycacheInstanceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
