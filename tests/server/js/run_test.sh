#!/usr/bin/env bash
# Runs one file of the JavaScript server tests for CTest. Exits 77 (the tests' SKIP_RETURN_CODE)
# when nothing could run: the npm packages are missing, or every test skipped itself (no chromium,
# no prometheus, no turbolm binary), so that a skip never reads as a pass.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
node="${TURBOLM_NODE:-node}"
file="$1"

if [ ! -d "$here/node_modules" ]; then
    echo "skipped: $here/node_modules is missing (run scripts/install-deps.sh --test, or npm ci --prefix tests/server/js)"
    exit 77
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
"$node" --test "$file" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && grep -q '^# pass 0$' "$log"; then
    echo "skipped: no test of $(basename "$file") ran"
    exit 77
fi
exit "$status"
