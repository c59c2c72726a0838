// Package chart checks that the two ways of installing the operator agree:
// the Helm chart (charts/whycache, rendered by `helm template`) and the
// kustomize bases (config/default, rendered by `kubectl kustomize`) make the
// same objects with the same RBAC rules, the same manager flags, mounts and
// ports, the same webhook settings and the same CRD. Both tools are built
// once by hack/tools.sh (make test-deps).
package chart
