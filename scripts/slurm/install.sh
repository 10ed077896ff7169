#!/usr/bin/env bash
# Installs the Slurm and MUNGE packages that scripts/slurm/cluster.sh and
# tests/slurm.rs need (Debian 12: Slurm 22.05). Idempotent: a second run only
# asks dpkg and installs nothing.
set -euo pipefail
say() { printf '[slurm-install] %s\n' "$*" >&2; }

source "$(dirname "$0")/../lib/apt.sh"
missing_packages slurmctld slurmd slurm-client munge
((${#missing[@]})) || exit 0
apt_ready
say "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
# policy-rc.d 101: the packages' postinst must not start daemons on the
# standard ports; cluster.sh starts its own, under a directory of its choice.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  trap '$SUDO rm -f "$policy"' EXIT
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
fi
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
