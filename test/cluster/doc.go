// Package cluster holds whycache's end-to-end test on a real control plane:
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on
// 127.0.0.1 (free ports, data in a temporary folder), with fake nodes whose
// kubelet the test plays. The operator is installed the way a user installs
// it (kubectl apply --server-side -k config/default, then helm install of
// charts/whycache), and every whycache process a pod asks for (the node
// agents, the snapshot and rewrite Jobs) runs for real: the whycache binary
// with the pod's command, arguments and environment, against MariaDB and an
// S3 server (versitygw) from internal/testserver.
//
// What the test stands in for, and how:
//
//   - The kubelet: kwok plays its node part (Ready condition, heartbeats;
//     only its node stages are configured, testdata/kwok-stages.yaml), the
//     test its pod part (see [kubelet]): processes started from the pod
//     spec with hostPath volumes mapped to a folder per node and container
//     ports to free ports, readiness from the pod's own readinessProbe,
//     written through the status subresource, and a Job's result line as
//     its termination message. A node that goes down is cordoned and its
//     processes stopped; when it comes back they start again.
//   - The manager's pods: the installed Deployment is scaled to zero, and
//     the manager runs as a local process with the Deployment's arguments
//     and environment (listen addresses moved to free ports) and a
//     kubeconfig that impersonates the installed ServiceAccount, so every
//     request it makes passes the installed RBAC rules.
//   - cert-manager and the Service in front of the webhook: the API server
//     here cannot reach a Service (no cluster DNS, no kube-proxy), so the
//     test issues a serving certificate for the Service's names and
//     127.0.0.1 into the webhook's Secret, "mounts" it for the manager (in
//     the external certificate mode), and points the webhook configuration
//     at https://127.0.0.1:PORT with the CA as its caBundle. The API server
//     then calls the manager's webhook for real on every labelled pod.
//
// The test is slow (minutes: it waits for cron schedules, which run every
// minute at the soonest) and needs the cluster tools that hack/tools.sh
// builds, so it runs only when WHYCACHE_E2E_CLUSTER=1 (`make test-e2e`);
// otherwise it is skipped. Each phase's duration is printed at the end.
// WHYCACHE_E2E_KEEP=1 keeps the temporary folder (logs of every process)
// of a failed run.
package cluster
