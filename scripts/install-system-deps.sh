#!/usr/bin/env bash
# Installs the Debian packages tsstack's tests and embedded runtime use. Idempotent; needs root.
#   docker-registry  a real OCI registry on loopback for the registry tests
#   skopeo           an independent client proving image interoperability
#   busybox-static   the binary test images are built from
#   apache2-utils    htpasswd (bcrypt) for the basic-auth registry tests
#   openssl          certificates for the bearer-token registry tests
#   zstd, attr       zstd layers; overlayfs whiteout xattrs
#   runc, conmon     the container runtime and its supervisor
#   catatonit        the init for `init: true` (as podman uses)
#   procps           ps, which `runc ps` (container top) and the tests' leftover checks run
#   python3-minimal  bridges conmon's SOCK_SEQPACKET attach socket (Node cannot open one)
#   libpython3-stdlib  ctypes, for the host helper (mount(2)/umount2(2) of overlay roots; starts conmon)
set -euo pipefail
PACKAGES=(docker-registry skopeo busybox-static apache2-utils openssl zstd attr runc conmon catatonit python3-minimal libpython3-stdlib procps iproute2 iptables)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-system-deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # policy-rc.d keeps the docker-registry package from starting a system-wide registry on :5000.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
