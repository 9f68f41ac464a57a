#!/usr/bin/env bash
# Installs what dbtier's tools and tests need on a fresh Debian 12 machine: apt packages, then node modules.
set -euo pipefail

main() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  local packages=()
  local line
  while IFS= read -r line; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [[ -n "${line}" ]] && packages+=("${line}")
  done < "${root}/.ci/apt-packages.txt"

  local missing=()
  local package
  for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "${package}" 2>/dev/null | grep -q "install ok installed" || missing+=("${package}")
  done
  if ((${#missing[@]} > 0)); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # Packages only: no daemon is started here (no systemd); tests start their own servers.
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
  # Debian's server packages start nothing without systemd, but make sure no distro default instance holds ports.
  cd "${root}"
  if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
    npm ci --no-audit --no-fund
  fi
  echo "setup: ready"
}

if [[ "${BASH_SOURCE[0]}" == "${0}" ]]; then
  main "$@"
fi
