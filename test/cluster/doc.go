// Package cluster holds whycache's end-to-end test on a real control plane:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
// 127.0.0.1, with fake nodes whose kubelet the test plays. The operator is
// installed the way a user installs it (kubectl apply -k config/default, or
// helm install of charts/whycache), its manager runs as a local process with
// the installed ServiceAccount's permissions (impersonation), and every
// whycache process a pod asks for (the node agents, the snapshot and
// rewrite Jobs) runs for real: the agent binary with the pod's command,
// arguments and environment, against MariaDB and an S3 server
// (internal/testserver).
//
// The test is slow (minutes: it waits for cron schedules) and needs the
// cluster tools that hack/tools.sh builds, so it runs only when
// WHYCACHE_E2E_CLUSTER=1 (`make test-e2e`); otherwise it is skipped.
//
// How the test plays the kubelet, and what kwok does, is described on
// [kubelet].
package cluster
