#!/usr/bin/env bash
# Where the GPU's time goes, op by op (TURBOLM_OP_PROFILE=1, src/ops/op_profile.h): eager runs of
# the Llama-3-8B shape, bf16, FP8 and FP8 with the FP8 KV cache offline (1024 requests of 128 in /
# 128 out, all running at once: decode steps of 1024 sequences and prefill chunks of 8192 tokens) and
# INT4 at batch 1. Each op's time is the device time between timing events around it; the large
# steps keep the GPU's queue full, so these are the kernels' own times (at batch 1 the host's launch
# gaps are in them too). Tables in RESULTS (default: bench/results).
#
#   BUILD_DIR=build-gpu bench/gpu_op_profile.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
mkdir -p "$results"
export TURBOLM_SOURCE_DIR=$PWD TURBOLM_OP_PROFILE=1
run() {  # name, then turbolm bench flags
    local name=$1 file="$results/cuda-op-profile-$1-$day.txt"
    shift
    timeout 150 "$build/turbolm" bench --model bench/configs/llama-3-8b --dummy-weights --device cuda -i 128 -o 128 \
        --warmup 0 --repeats 1 --no-graphs --json "$file.json" "$@" >"$file.out" 2>"$file"
    # The commit the binary was built from, as its JSON records it.
    local commit
    commit=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['commit'])" "$file.json" 2>/dev/null ||
        echo unknown)
    { echo "command: turbolm bench --model bench/configs/llama-3-8b --dummy-weights --device cuda -i 128 -o 128 --warmup 0 --repeats 1 --no-graphs $*"
      echo "commit: $commit, $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%FT%TZ)"
      tail -1 "$file.out"; cat "$file"; } >"$file.tmp" && mv "$file.tmp" "$file" && rm -f "$file.out" "$file.json"
    echo "== $name"
    grep -A24 "op profile" "$file" | cut -c1-140
}
run llama-3-8b-bf16-offline --mode offline -n 1024 --max-running 1024
run llama-3-8b-fp8-offline --mode offline -n 1024 --max-running 1024 --quantize fp8
run llama-3-8b-fp8-kv-fp8-offline --mode offline -n 1024 --max-running 1024 --quantize fp8 --kv-cache-dtype fp8
run llama-3-8b-int4-b1 -b 1 --quantize int4
