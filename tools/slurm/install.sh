#!/usr/bin/env bash
# Install the Debian packages for the single-node SLURM test cluster
# (slurmctld + slurmd + slurmdbd with MariaDB accounting, munge auth).
# Idempotent: does nothing when everything is already installed.
# No daemon is started here; tools/slurm/start.sh does that.
set -euo pipefail

PACKAGES=(munge slurm-client slurmctld slurmd slurmdbd mariadb-server)

if [[ $(id -u) -ne 0 ]]; then
    echo "tools/slurm/install.sh: must run as root (it installs Debian packages)." >&2
    echo "  Run it with sudo, or install these packages yourself: ${PACKAGES[*]}" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-query >/dev/null; then
    echo "tools/slurm/install.sh: needs a Debian/Ubuntu system with apt-get." >&2
    echo "  On other systems install SLURM (slurmctld, slurmd, slurmdbd), munge and MariaDB" >&2
    echo "  with the system's package manager; start.sh only needs the binaries on PATH." >&2
    exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [[ $status == installed ]] || missing+=("$pkg")
done
if [[ ${#missing[@]} -eq 0 ]]; then
    echo "SLURM test-cluster packages already installed."
    exit 0
fi
echo "Installing: ${missing[*]}"

# Package scripts must not start daemons: without systemd they would start
# with the stock config (or fail), and start.sh brings up its own instances.
created_policy=0
if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
fi
cleanup() { if [[ $created_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}"; }
# Refresh the package index only when it is missing or too stale to resolve the packages.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1 || ! apt_install; then
    apt-get update -q
    apt_install
fi
echo "SLURM test-cluster packages installed."
