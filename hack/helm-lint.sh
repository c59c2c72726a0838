#!/usr/bin/env bash
# Lints and renders charts/whycache with helm (built once by hack/tools.sh):
# `helm lint --strict` and `helm template` of the value combinations that
# change what the chart makes (the webhook with the manager's own
# certificates or cert-manager's, without the webhook, one replica, the
# ServiceMonitor), and checks that the values schema refuses a misspelt key.
# Run by `make helm-lint`, which `make lint` (and so CI) runs.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=${HELM:-$(bash hack/tools.sh dir helm)/helm}
# A helm built from source reports Kubernetes v1.20 unless told otherwise.
KUBE_VERSION=${KUBE_VERSION:-1.37.2}
CHART=charts/whycache
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

combos=(
	""
	"--set webhook.certManager.enabled=true --set serviceMonitor.enabled=true"
	"--set webhook.certManager.enabled=true --set webhook.certManager.issuerRef.name=ca --set webhook.certManager.issuerRef.kind=ClusterIssuer"
	"--set webhook.enabled=false --set replicaCount=1"
	"--set image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000 --set agentImage=example.com/agent:1 --set extraArgs={--store-poll-interval=1m}"
)
i=0
for c in "${combos[@]}"; do
	i=$((i + 1))
	echo "helm-lint: ${c:-default values}"
	# shellcheck disable=SC2086 # each combination is a list of flags
	"$HELM" lint --strict --quiet --kube-version "$KUBE_VERSION" $c "$CHART"
	# shellcheck disable=SC2086
	"$HELM" template whycache "$CHART" --namespace whycache-system --kube-version "$KUBE_VERSION" $c >"$out/$i.yaml"
done
if "$HELM" template whycache "$CHART" --kube-version "$KUBE_VERSION" --set webhok.enabled=false >/dev/null 2>"$out/err"; then
	echo "helm-lint: the values schema accepted an unknown key" >&2
	exit 1
fi
grep -q "additional properties 'webhok' not allowed" "$out/err" || {
	echo "helm-lint: unexpected error for an unknown key:" >&2
	cat "$out/err" >&2
	exit 1
}
echo "helm-lint: ok (${#combos[@]} value sets)"
