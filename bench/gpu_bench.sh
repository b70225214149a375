#!/usr/bin/env bash
# GPU benchmarks in one call: builds the CUDA backend (unless BUILD_DIR already holds a build), runs
# the GPU tests, then `turbolm bench` on models of real shapes with random weights, writing one JSON
# per measurement into RESULTS (default: bench/results) and a table at the end.
#
#   bench/gpu_bench.sh [quick]          quick: only the two Llama shapes at batch 1
#
# The targets it checks (bf16, Hopper): Llama-3-8B batch 1 >= 150 decode tokens/s, Llama-3.2-1B
# batch 1 >= 600, a 2048-token prefill <= 60 ms, batch 64 (128 in / 128 out) >= 7000 output tokens/s.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
mkdir -p "$results"

if [ ! -x "$build/turbolm" ]; then
    cmake -S . -B "$build" -G Ninja -DTURBOLM_CUDA=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

echo "== GPU tests (full log: $results/gpu-tests-$day.log)"
status=0
export TURBOLM_SOURCE_DIR=$PWD
: >"$results/gpu-tests-$day.log"
for t in "$build"/test_gpu*; do
    if timeout 300 "$t" --gtest_brief=1 >>"$results/gpu-tests-$day.log" 2>&1; then
        echo "$(basename "$t"): passed"
    else
        echo "$(basename "$t"): FAILED"
        status=1
    fi
done
grep -E "^\[ +(FAILED|PASSED|SKIPPED) +\]|worst max" "$results/gpu-tests-$day.log" | sort | uniq | head -n 60 || true

bench() {  # name config batches input output [extra flags]
    local name=$1 config=$2 batches=$3 in=$4 out=$5
    shift 5
    timeout 240 "$build/turbolm" bench --model "bench/configs/$config" --dummy-weights --device cuda -b "$batches" \
        -i "$in" -o "$out" --warmup 1 --repeats 3 --json "$results/cuda-$name-$day.json" "$@"
}

echo "== benchmarks"
bench llama-3.2-1b-b1 llama-3.2-1b 1 128 128 || status=1
bench llama-3-8b-b1 llama-3-8b 1 128 128 || status=1
if [ "${1:-}" != quick ]; then
    bench llama-3-8b-prefill-2048 llama-3-8b 1 2048 2 || status=1
    bench llama-3-8b-b64 llama-3-8b 16,64 128 128 || status=1
    bench qwen2-7b qwen2-7b 1,64 128 128 || status=1
    bench mistral-7b-b1 mistral-7b 1 128 128 || status=1
    # Mixtral: decode steps of up to 32 sequences route on the device (graphs); prefill routes on the host.
    bench mixtral-8x7b mixtral-8x7b 1,16 128 128 || status=1
fi
exit $status
