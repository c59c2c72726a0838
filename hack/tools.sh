#!/usr/bin/env bash
# Builds the external tools the tests need (etcd, kube-apiserver and the other
# Kubernetes control-plane binaries, kubectl, an S3-compatible server, kwok,
# helm) from the Go module proxy into a cache directory outside the
# repository, keyed by tool and version, and prints the directory of each.
#
#   hack/tools.sh dir NAME      print the folder that holds NAME's binaries (building it when missing)
#   hack/tools.sh build NAME... build the named tools when missing
#
# Names: etcd, kube (kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl), minio, versitygw, kwok, helm. The cache lives in
# $WHYCACHE_TOOLS_DIR (default: ${XDG_CACHE_HOME:-~/.cache}/whycache-tools);
# a tool is rebuilt only when its version changes. Builds happen in throwaway
# modules under the cache, never in the repository, so the project's go.mod
# never sees these tools (MinIO is AGPL: a test tool only, never shipped).
set -euo pipefail

ETCD_VERSION=v3.6.16
KUBE_VERSION=v1.37.2
KUBE_STAGING_VERSION=v0.37.2
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
VERSITYGW_VERSION=v1.8.0
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0

CACHE=${WHYCACHE_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/whycache-tools}
GO=${GO:-go}

log() { echo "tools: $*" >&2; }

version_of() {
	case "$1" in
	etcd) echo "$ETCD_VERSION" ;;
	kube) echo "$KUBE_VERSION" ;;
	minio) echo "$MINIO_VERSION" ;;
	versitygw) echo "$VERSITYGW_VERSION" ;;
	kwok) echo "$KWOK_VERSION" ;;
	helm) echo "$HELM_VERSION" ;;
	*) echo "tools: unknown tool $1" >&2; return 1 ;;
	esac
}

dir_of() { echo "$CACHE/$1-$(version_of "$1")"; }

# module NAME: a fresh throwaway module folder for building NAME.
module() {
	local m="$CACHE/.build/$1"
	rm -rf "$m"
	mkdir -p "$m"
	(cd "$m" && GOFLAGS=-mod=mod $GO mod init "whycache-tools/$1" >/dev/null 2>&1)
	echo "$m"
}

build_etcd() {
	local out=$1 m
	m=$(module etcd)
	(cd "$m" && GOFLAGS=-mod=mod $GO get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" &&
		CGO_ENABLED=0 GOFLAGS=-mod=mod $GO build -trimpath -ldflags '-s -w' -o "$out/etcd" go.etcd.io/etcd/server/v3)
}

build_kube() {
	local out=$1 m gomod v=$KUBE_VERSION sv=$KUBE_STAGING_VERSION minor
	m=$(module kube)
	# k8s.io/kubernetes replaces its staging modules with ./staging/...; a
	# module that requires it must replace each with the published version
	# (the proxy lacks the two sample modules, which nothing here needs).
	gomod=$(cd "$m" && GOFLAGS=-mod=mod $GO mod download -json "k8s.io/kubernetes@$v" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
	{
		echo "module whycache-tools/kube"
		echo "go 1.26.0"
		echo "require k8s.io/kubernetes $v"
		sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' "$gomod" |
			grep -v -e sample-cli-plugin -e sample-controller |
			while read -r x; do echo "replace $x => $x $sv"; done
	} >"$m/go.mod"
	minor=${v#v1.}
	minor=${minor%%.*}
	local ld="-s -w"
	for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
	done
	local cmds="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
		k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
	(cd "$m" &&
		GOFLAGS=-mod=mod $GO get -tool $cmds &&
		CGO_ENABLED=0 GOFLAGS=-mod=mod $GO build -trimpath -ldflags "$ld" -o "$out/" $cmds)
}

build_install() { # out module@version [ldflags]
	GOBIN=$1 CGO_ENABLED=0 GOFLAGS=-mod=mod $GO install -trimpath -ldflags "${3:--s -w}" "$2"
}

build() {
	local name=$1 dir tmp start
	dir=$(dir_of "$name")
	if [ -f "$dir/.complete" ]; then
		return 0
	fi
	mkdir -p "$CACHE"
	tmp="$dir.tmp.$$"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	start=$(date +%s)
	log "building $name $(version_of "$name") into $dir (once; cached afterwards)"
	case "$name" in
	etcd) build_etcd "$tmp" ;;
	kube) build_kube "$tmp" ;;
	minio) build_install "$tmp" "github.com/minio/minio@$MINIO_VERSION" ;;
	versitygw) build_install "$tmp" "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" ;;
	kwok) build_install "$tmp" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" ;;
	helm) build_install "$tmp" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
		"-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" ;;
	esac
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	log "built $name in $(($(date +%s) - start)) s"
}

case "${1:-}" in
dir)
	build "$2"
	dir_of "$2"
	;;
build)
	shift
	for t in "$@"; do build "$t"; done
	;;
*)
	sed -n '2,16p' "$0" >&2
	exit 2
	;;
esac
