#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for tests/report_browser.rs.
# Idempotent: a second run only asks dpkg and installs nothing.
set -euo pipefail
say() { printf '[browser-install] %s\n' "$*" >&2; }

pkgs=(chromium)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if ! command -v sudo >/dev/null; then
    say "error: need root (or sudo) to install ${missing[*]}"
    exit 1
  fi
  SUDO="sudo"
fi
if ! command -v apt-get >/dev/null; then
  say "error: apt-get not found; install ${missing[*]} by hand"
  exit 1
fi
say "installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
