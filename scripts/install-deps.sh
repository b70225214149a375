#!/usr/bin/env bash
# Installs the Debian packages turbolm builds with, if any is missing. Idempotent and
# non-interactive; does nothing (and needs no root) when everything is already there.
set -euo pipefail

packages=(
    build-essential cmake ninja-build pkg-config
    nlohmann-json3-dev libcli11-dev libpcre2-dev libboost-dev
    libgtest-dev libgmock-dev
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "turbolm: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "turbolm: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
