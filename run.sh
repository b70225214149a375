#!/usr/bin/env bash
# Installs what is missing, builds, and runs turbolm. With no arguments it starts the default job.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh turbolm
if [ $# -eq 0 ]; then
    set -- generate --model models/demo --prompt "And God said" -n 64
fi
exec "${TURBOLM_BUILD_DIR:-build}/turbolm" "$@"
