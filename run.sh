#!/usr/bin/env bash
# Installs what is missing, builds, and runs turbolm. With no arguments it starts the default job.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
scripts/build.sh turbolm
if [ $# -eq 0 ]; then
    set -- serve  # the bundled demo model on http://127.0.0.1:8000/
fi
exec "${TURBOLM_BUILD_DIR:-build}/turbolm" "$@"
