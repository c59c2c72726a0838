#!/usr/bin/env bash
# Provides the binaries of controller-runtime's envtest (etcd and
# kube-apiserver, built from the Go module proxy by hack/tools.sh into its
# cache outside the repository) in one folder, as KUBEBUILDER_ASSETS wants.
#
#   hack/envtest.sh assets             print the folder, building the tools once when missing
#   hack/envtest.sh assets --no-build  print the folder, or exit 3 when a tool is not built
#
# The folder holds symbolic links into the tools' own folders, so nothing is
# copied; it is keyed by both versions.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${WHYCACHE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whycache-tools}

version() { sed -n "s/^$1=//p" "$here/tools.sh"; }

tooldir() { # NAME VERSION
	local d="$CACHE/$1-$2"
	if [ "$nobuild" = 1 ]; then
		[ -f "$d/.complete" ] || { echo "envtest: $1 $2 is not built (make envtest-assets builds it)" >&2; exit 3; }
		echo "$d"
	else
		bash "$here/tools.sh" dir "$1"
	fi
}

[ "${1:-}" = assets ] || { sed -n '2,10p' "$0" >&2; exit 2; }
nobuild=0
[ "${2:-}" = --no-build ] && nobuild=1
etcd_v=$(version ETCD_VERSION)
kube_v=$(version KUBE_VERSION)
etcd=$(tooldir etcd "$etcd_v")
kube=$(tooldir kube "$kube_v")
out="$CACHE/envtest-$kube_v-etcd-$etcd_v"
mkdir -p "$out"
ln -sfn "$etcd/etcd" "$out/etcd"
ln -sfn "$kube/kube-apiserver" "$out/kube-apiserver"
[ -e "$kube/kubectl" ] && ln -sfn "$kube/kubectl" "$out/kubectl"
echo "$out"
