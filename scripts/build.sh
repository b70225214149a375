#!/usr/bin/env bash
# Configures (once) and builds turbolm into build/. Extra arguments are passed to the build tool,
# e.g. scripts/build.sh turbolm to build just the binary.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${TURBOLM_BUILD_DIR:-build}
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    generator=()
    command -v ninja >/dev/null && generator=(-G Ninja)
    cmake -S . -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release ${TURBOLM_CMAKE_ARGS:-}
fi
jobs=${TURBOLM_JOBS:-$(nproc)}
if [ $# -gt 0 ]; then
    cmake --build "$build_dir" -j "$jobs" --target "$@"
else
    cmake --build "$build_dir" -j "$jobs"
fi
