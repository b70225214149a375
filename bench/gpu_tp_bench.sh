#!/usr/bin/env bash
# Tensor parallelism on one machine with several GPUs, in one call: the tensor-parallel GPU tests
# (two GPUs through NCCL against one), then `turbolm bench --tensor-parallel N` on models of real
# shapes with random weights. One JSON per measurement in RESULTS (default: bench/results), a table
# last. Keep NVLink multicast off (NCCL_NVLS_ENABLE=0), as the lending machines require.
#
#   BUILD_DIR=build-gpu bench/gpu_tp_bench.sh
#
# Targets: Llama-3-8B batch-1 decode faster at TP=2 than at TP=1; Llama-3-70B (bf16, 141 GB) at
# TP=4: batch-1 decode and offline 128/128 throughput reported.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
mkdir -p "$results"
export TURBOLM_SOURCE_DIR=$PWD TURBOLM_BINARY=$build/turbolm NCCL_NVLS_ENABLE=0
gpus=$(nvidia-smi --list-gpus | wc -l)
status=0

echo "== tensor-parallel GPU tests ($gpus GPUs)"
timeout 600 "$build/test_gpu" --gtest_filter='GpuTensorParallel*:GpuNccl*' 2>&1 | tee "$results/cuda-tp-tests-$day.log" |
    grep -E "^\[ +(FAILED|PASSED|SKIPPED|OK) +\]|max\|diff\|" || status=1

bench() {  # name config tp, then turbolm bench flags
    local name=$1 config=$2 tp=$3
    shift 3
    timeout 600 "$build/turbolm" bench --model "bench/configs/$config" --dummy-weights --device cuda \
        --tensor-parallel "$tp" --json "$results/cuda-$name-$day.json" "$@" || status=1
}

for tp in 1 2 4 8; do
    [ "$tp" -le "$gpus" ] || continue
    bench "llama-3-8b-tp$tp-b1" llama-3-8b "$tp" -b 1,8 -i 128 -o 128 --warmup 1 --repeats 3
done
if [ "$gpus" -ge 4 ]; then
    bench llama-3-70b-tp4-b1 llama-3-70b 4 -b 1,8 -i 128 -o 128 --warmup 1 --repeats 3
    bench offline-llama-3-70b-tp4-128-128 llama-3-70b 4 --mode offline -n 1024 -i 128 -o 128
fi
if [ "$gpus" -ge 8 ]; then
    bench llama-3-70b-tp8-b1 llama-3-70b 8 -b 1,8 -i 128 -o 128 --warmup 1 --repeats 3
fi

python3 - "$results" "$day" <<'PY'
import json, pathlib, sys
results, day = pathlib.Path(sys.argv[1]), sys.argv[2]
print(f"{'run':44} {'tp':>3} {'batch':>5} {'tokens/s':>10} {'tpot p50 ms':>12} {'peak GiB (rank 0)':>18}")
for f in sorted(results.glob(f"cuda-*tp*-{day}.json")):
    d = json.loads(f.read_text())
    for r in d.get("runs", []):
        tps = r.get("decode_tokens_per_second") or r.get("output_tokens_per_second", 0)
        tpot = r.get("per_token_latency_ms", {}).get("p50") or r.get("inter_token_latency_ms", {}).get("p50", 0)
        mem = r.get("memory", {}).get("peak_allocated_bytes", 0) / 2**30
        print(f"{f.stem.replace('-' + day, ''):44} {d.get('tensor_parallel', 1):>3} {r.get('batch', '-'):>5} "
              f"{tps:>10.1f} {tpot:>12.2f} {mem:>18.2f}")
PY
exit $status
