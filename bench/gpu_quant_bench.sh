#!/usr/bin/env bash
# Quantized modes on the GPU in one call: the GPU tests of the quantized kernels, decode speed and
# peak memory of every weight format on the Llama-3-8B shape, FP8 and quantized-KV offline
# throughput against bf16, and the accuracy of each mode on the demo model's held-out text against
# bf16 on the same GPU. One JSON per measurement in RESULTS (default: bench/results), a table last.
#
#   BUILD_DIR=build-gpu bench/gpu_quant_bench.sh [speed|offline|accuracy|fp8-block]
#                                                   (default: speed and accuracy)
#
# offline: only the offline runs of speed. fp8-block: only the block-scaled FP8 mode (--quantize
# fp8-block) with the bf16 and FP8 offline runs it is read against, and its accuracy beside FP8's.
# An offline run is one warm-up pass of its workload and the median of three measured passes.
#
# Targets (H100 class, Llama-3-8B shape, batch 1 decode): INT8 >= 250 tokens/s, INT4 >= 380;
# FP8 offline 128/128 >= 1.6x bf16. Accuracy (KL divergence against bf16, mean over the held-out
# text): INT8 <= 0.002, FP8 <= 0.005, INT4-AWQ <= 0.05 and below round-to-nearest INT4, INT8 KV
# cache <= 0.01.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
what=${1:-all}
mkdir -p "$results"
status=0
export TURBOLM_SOURCE_DIR=$PWD

bench() {  # name config, then turbolm bench flags
    local name=$1 config=$2
    shift 2
    timeout 300 "$build/turbolm" bench --model "bench/configs/$config" --dummy-weights --device cuda \
        --json "$results/cuda-$name-$day.json" "$@" || status=1
}

offline() {  # name, then flags
    local name=$1
    shift
    bench "offline-llama-3-8b-128-128-$name" llama-3-8b --mode offline -n 1024 -i 128 -o 128 \
        --warmup 1 --repeats 3 "$@"
}
evaluate() {  # name, then candidate flags
    local name=$1
    shift
    timeout 300 "$build/turbolm" eval --model models/demo --text models/demo/heldout.txt --device cuda \
        --json "$results/eval-demo-$name-cuda-$day.json" "$@" || status=1
}

if [ "$what" = fp8-block ]; then
    bench llama-3-8b-fp8-block-decode llama-3-8b -b 1,8,64 -i 128 -o 128 --warmup 1 --repeats 3 --quantize fp8-block
    bench llama-3-8b-fp8-block-prefill-2048 llama-3-8b -b 1 -i 2048 -o 2 --warmup 1 --repeats 3 \
        --quantize fp8-block
    # The references under their own names, so that a full run's files of the same day stay.
    offline bf16-beside-fp8-block --max-running 1024
    offline fp8-beside-fp8-block --max-running 1024 --quantize fp8
    offline fp8-block --max-running 1024 --quantize fp8-block
    evaluate fp8 --candidate-quantize fp8
    evaluate fp8-block --candidate-quantize fp8-block
elif [ "$what" != accuracy ]; then
    if [ "$what" != offline ]; then
        for q in none int8 int4 fp8 fp8-block; do
            bench "llama-3-8b-$q-decode" llama-3-8b -b 1,8,64 -i 128 -o 128 --warmup 1 --repeats 3 --quantize "$q"
            bench "llama-3-8b-$q-prefill-2048" llama-3-8b -b 1 -i 2048 -o 2 --warmup 1 --repeats 3 --quantize "$q"
        done
        bench llama-3.2-1b-int4-b1 llama-3.2-1b -b 1 -i 128 -o 128 --warmup 1 --repeats 3 --quantize int4
        bench llama-3.2-1b-int8-b1 llama-3.2-1b -b 1 -i 128 -o 128 --warmup 1 --repeats 3 --quantize int8
    fi
    # Offline: 1024 requests, all running at once (the throughput setting; the same for every mode),
    # and bf16 / FP8 again with at most 256 running (the engine's default).
    offline bf16 --max-running 1024
    offline fp8 --max-running 1024 --quantize fp8
    offline fp8-block --max-running 1024 --quantize fp8-block
    # FP8 products accumulate in the tensor cores' fast mode by default; this is the precise one.
    TURBOLM_FP8_FAST_ACCUM=0 offline fp8-precise-accum --max-running 1024 --quantize fp8
    offline fp8-kv-fp8 --max-running 1024 --quantize fp8 --kv-cache-dtype fp8
    offline kv-int8 --max-running 1024 --kv-cache-dtype int8
    offline bf16-256-running --max-running 256
    offline fp8-256-running --max-running 256 --quantize fp8
fi

if [ "$what" != speed ] && [ "$what" != offline ] && [ "$what" != fp8-block ]; then
    demo=models/demo
    evaluate int8 --candidate-quantize int8
    evaluate int4-rtn --candidate-quantize int4
    evaluate fp8 --candidate-quantize fp8
    evaluate fp8-block --candidate-quantize fp8-block
    evaluate kv-int8 --candidate-kv-cache-dtype int8
    evaluate kv-fp8 --candidate-kv-cache-dtype fp8
    awq=$(mktemp -d)/demo-int4-awq
    sq=$(mktemp -d)/demo-sq-w8a8
    "$build/turbolm" quantize --model "$demo" --method int4-awq --calib "$demo/calibration.txt" --out "$awq" \
        --report "$results/quantize-demo-int4-awq-$day.json" || status=1
    "$build/turbolm" quantize --model "$demo" --method sq-w8a8 --calib "$demo/calibration.txt" --out "$sq" \
        --report "$results/quantize-demo-sq-w8a8-$day.json" || status=1
    evaluate int4-awq --candidate-model "$awq"
    evaluate sq-w8a8 --candidate-model "$sq"
fi

python3 - "$results" "$day" <<'PY'
import json, pathlib, sys
results, day = pathlib.Path(sys.argv[1]), sys.argv[2]
rows = []
for f in sorted(results.glob(f"cuda-*-{day}.json")):
    d = json.loads(f.read_text())
    if "runs" not in d: continue
    for r in d["runs"]:
        mem = r.get("memory", {}).get("peak_allocated_bytes", 0) / 2**30
        tps = r.get("decode_tokens_per_second") or r.get("output_tokens_per_second", 0)
        label = f.stem.replace(f"-{day}", "") + (f" b{r['batch']}" if "batch" in r else "")
        extra = f"TTFT {r['ttft_ms']['median']:.1f} ms" if "prefill" in f.stem else ""
        rows.append(f"{label:52} {tps:10.1f} tok/s  peak {mem:6.2f} GiB  {extra}")
for f in sorted(results.glob(f"eval-demo-*-cuda-{day}.json")):
    t = json.loads(f.read_text())["results"]["text"]
    c = t["comparison"]
    rows.append(f"{f.stem:52} KL {c['kld_mean']:.2e}  top-1 {c['top1_agreement']*100:.2f}%  "
                f"ppl {t['baseline']['perplexity']:.4f} -> {t['candidate']['perplexity']:.4f}")
print("\n".join(rows))
PY
exit $status
