#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for tests/report_browser.rs.
# Idempotent: a second run only asks dpkg and installs nothing.
set -euo pipefail
say() { printf '[browser-install] %s\n' "$*" >&2; }

source "$(dirname "$0")/../lib/apt.sh"
missing_packages chromium
((${#missing[@]})) || exit 0
apt_ready
say "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
