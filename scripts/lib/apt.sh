# Sourced by the install scripts (scripts/slurm/install.sh,
# scripts/browser/install.sh): which Debian packages are missing, and how to
# become root to install them. The caller defines `say`.

# missing_packages PKG...: sets the array `missing` to those not installed.
missing_packages() {
  missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
}

# apt_ready: sets SUDO ("" as root, else "sudo"), or says why it cannot
# install `missing` and fails.
apt_ready() {
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    if ! command -v sudo >/dev/null; then
      say "error: need root (or sudo) to install ${missing[*]}"
      return 1
    fi
    SUDO="sudo"
  fi
  if ! command -v apt-get >/dev/null; then
    say "error: apt-get not found; install ${missing[*]} by hand"
    return 1
  fi
}
