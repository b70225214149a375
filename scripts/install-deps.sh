#!/usr/bin/env bash
# Installs the Debian packages turbolm builds with, if any is missing. Idempotent and
# non-interactive; does nothing (and needs no root) when everything is already there.
#   --test   also what the end-to-end server tests use (tests/server/js): node and npm, curl,
#            chromium, prometheus, and the suite's npm packages (npm ci, when missing or stale).
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
for arg in "$@"; do
    case "$arg" in
        --test) with_tests=1 ;;
        *) echo "usage: $0 [--test]" >&2; exit 2 ;;
    esac
done

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
if [ "$with_tests" -eq 1 ]; then
    # Programs rather than packages: node and npm often come from elsewhere (nvm, NodeSource).
    command -v node >/dev/null || missing+=(nodejs)
    command -v npm >/dev/null || missing+=(npm)
    command -v curl >/dev/null || missing+=(curl)
    # The tests run these exact paths, as Debian installs them.
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ -x /usr/bin/prometheus ] || missing+=(prometheus)
fi

if [ ${#missing[@]} -gt 0 ]; then
    echo "turbolm: installing ${missing[*]}" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "turbolm: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -q
    $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The JavaScript tests' packages, exactly as locked. npm writes node_modules/.package-lock.json on
# every install, so a lock file newer than it means the packages changed since.
if [ "$with_tests" -eq 1 ]; then
    js=tests/server/js
    if [ ! -f "$js/node_modules/.package-lock.json" ] || [ "$js/package-lock.json" -nt "$js/node_modules/.package-lock.json" ]; then
        echo "turbolm: installing the npm packages of $js" >&2
        npm ci --prefix "$js" --no-audit --no-fund --loglevel=error >&2
    fi
fi
