// Package podinject is the operator's mutating admission webhook for
// core/v1 Pods: a pod labelled whycache.io/instance=NAME gets the
// directory of the WhycacheInstance NAME of its namespace as a read-only
// hostPath volume, mounted at /var/run/whycache in every container, with
// WHYCACHE_DIR pointing there; with the annotation
// whycache.io/wait-ready="true" it also gets an init container that waits
// until the node's agent is ready.
//
// The decision is a pure function of the pod and the instance ([Inject],
// mutate.go); [Handler] gathers its inputs from the admission request and
// the API server and turns its answer into a JSON patch or a denial
// (handler.go); [Setup] serves it from the manager, with serving
// certificates generated and rotated by the manager itself or mounted from
// a Secret that cert-manager fills (serve.go).
//
// Pods without the label are never touched: the webhook configuration's
// object selector keeps the API server from calling the webhook for them,
// and the handler lets them through unchanged if it is called anyway.
//
// The package never imports node-agent or pkg/cachefile (test/layering).
package podinject
