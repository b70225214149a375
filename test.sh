#!/usr/bin/env bash
# Installs what is missing, builds everything, and runs the whole test suite (GPU tests skip
# cleanly on machines without a GPU). Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test
scripts/build.sh
cd "${TURBOLM_BUILD_DIR:-build}"
ctest --output-on-failure -j "${TURBOLM_JOBS:-$(nproc)}" "$@"
