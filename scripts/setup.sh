#!/usr/bin/env bash
# Installs everything tortie and its tests use, idempotently: Debian packages
# (only those missing), node modules (only when package-lock.json changed),
# and the build. Safe to run before every test run.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  iproute2 nftables conntrack iputils-ping netcat-openbsd socat procps psmisc
  etcd-server etcd-client
  bird2 frr gobgpd exabgp
  containernetworking-plugins iptables
  podman runc busybox-static
  iperf3
  gcc libc6-dev
)
# kubectl (for applying the manifests) may already come from another package.
command -v kubectl >/dev/null 2>&1 || debian_packages+=(kubernetes-client)

missing=()
for pkg in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and installing them needs root: ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Debian starts these daemons on install; tortie's tests and lab run their own.
  for svc in etcd bird frr gobgpd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
  done
fi

# npm ci only when the lockfile differs from what is installed.
stamp=node_modules/.tortie-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi

npm run --silent build
