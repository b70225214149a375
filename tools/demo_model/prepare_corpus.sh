#!/usr/bin/env bash
# Build the demo model's training corpus from the King James Bible that Debian ships.
#
#   tools/demo_model/prepare_corpus.sh OUT_DIR
#
# Writes OUT_DIR/train.txt, OUT_DIR/heldout.txt and OUT_DIR/corpus_info.json.
# The package bible-kjv-text stores the text compressed in its own format
# (/usr/lib/bible.data); its reader, the program `bible` from package bible-kjv, prints it
# back as plain text, one verse per line. Installing is idempotent and non-interactive.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
out_dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
packages=(bible-kjv bible-kjv-text)

is_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

install_packages() {
    local missing=()
    for p in "${packages[@]}"; do
        is_installed "$p" || missing+=("$p")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "installing ${missing[*]}" >&2
    # A fresh machine may have no package lists yet: update once and retry if the first try fails.
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        "${sudo[@]}" apt-get update -q >&2
        "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
}

install_packages
version=$(dpkg-query -W -f='${Version}' bible-kjv-text)

mkdir -p "$out_dir"
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT
# -f turns pretty-printing off: one verse per line, prefixed with its reference.
# Standard input is closed so that the program never waits for interactive commands.
bible -f Gen1:1-Rev22:21 </dev/null >"$raw"

python3 "$here/split_corpus.py" "$raw" "$out_dir" --package-version "$version" >/dev/null
echo "wrote $out_dir/train.txt, $out_dir/heldout.txt, $out_dir/corpus_info.json (bible-kjv-text $version)"
wc -c "$out_dir/train.txt" "$out_dir/heldout.txt"
