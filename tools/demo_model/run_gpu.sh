#!/usr/bin/env bash
# Train the demo model, compute its goldens and pack the result, in one command.
#
#   tools/demo_model/run_gpu.sh CORPUS_DIR DEST_DIR [train_demo_model.py options, e.g. --smoke]
#
# CORPUS_DIR holds train.txt, heldout.txt and corpus_info.json from prepare_corpus.sh.
# The model folder is built in a fresh temporary folder; DEST_DIR receives at most four files:
# the weight shards, golden.safetensors and meta.tar (everything else). See pack_outputs.py.
set -uo pipefail

if [[ $# -lt 2 ]]; then
    echo "usage: $0 CORPUS_DIR DEST_DIR [train options]" >&2
    exit 2
fi
corpus=$1
dest=$2
shift 2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tools=$(dirname "$here")
work=$(mktemp -d "${TMPDIR:-/tmp}/demo_model.XXXXXX")
model="$work/demo"
log="$work/run.log"
export PYTHONUNBUFFERED=1

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
    python3 -c 'import torch, transformers, tokenizers, safetensors; print("torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "safetensors", safetensors.__version__)' &&
    python3 "$tools/train_demo_model.py" --corpus "$corpus/train.txt" --heldout "$corpus/heldout.txt" \
        --corpus-info "$corpus/corpus_info.json" --out "$model" "$@" &&
    python3 "$tools/make_demo_goldens.py" --model "$model"
} 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

python3 "$here/pack_outputs.py" --src "$model" --dst "$dest" --log "$log" || rc=1
echo "exit status $rc"
exit "$rc"
