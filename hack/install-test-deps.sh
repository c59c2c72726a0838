#!/usr/bin/env bash
# Installs the Debian packages that the tests and benchmarks need when they are
# missing: MariaDB, PostgreSQL and Redis servers. Needs root (CI runs as root);
# as another user it says what to install instead.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "$2" ]; }
have mariadbd /usr/sbin/mariadbd || need+=(mariadb-server mariadb-client)
pg=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null | head -n1 || true)
[ -n "$pg" ] || command -v postgres >/dev/null 2>&1 || need+=(postgresql)
have redis-server /usr/bin/redis-server || need+=(redis-server)

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: missing packages: ${need[*]}" >&2
	echo "install-test-deps: run as root, or: sudo apt-get install -y ${need[*]}" >&2
	exit 1
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || apt-get update
# Keep the packages' own services from starting: the tests run their own servers.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod +x /usr/sbin/policy-rc.d
trap 'rm -f /usr/sbin/policy-rc.d' EXIT
apt-get install -y -qq --no-install-recommends "${need[@]}"
