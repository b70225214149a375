#!/usr/bin/env bash
# Accuracy of every quantized mode on the CPU reference: the demo model's whole held-out text,
# each mode against the unquantized model in f32 (`turbolm eval`), the calibrated methods written
# by `turbolm quantize` from models/demo/calibration.txt first. One JSON per mode in RESULTS
# (default: bench/results), a table last. bench/gpu_quant_bench.sh accuracy does the same on the GPU.
#
#   BUILD_DIR=build bench/cpu_quant_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
demo=models/demo
mkdir -p "$results"
export OMP_WAIT_POLICY=passive
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

evaluate() {  # name, then candidate flags
    local name=$1
    shift
    "$build/turbolm" eval --model "$demo" --text "$demo/heldout.txt" --device cpu \
        --json "$results/eval-demo-$name-cpu-$day.json" "$@" >/dev/null
}
for method in int4-awq sq-w8a8; do
    "$build/turbolm" quantize --model "$demo" --method "$method" --calib "$demo/calibration.txt" \
        --out "$work/$method" --report "$results/quantize-demo-$method-$day.json"
done
evaluate int8 --candidate-quantize int8
evaluate fp8 --candidate-quantize fp8
evaluate fp8-block --candidate-quantize fp8-block
evaluate int4-rtn --candidate-quantize int4
evaluate int4-awq --candidate-model "$work/int4-awq"
evaluate sq-w8a8 --candidate-model "$work/sq-w8a8"
evaluate kv-int8 --candidate-kv-cache-dtype int8
evaluate kv-fp8 --candidate-kv-cache-dtype fp8

python3 - "$results" "$day" <<'PY'
import json, pathlib, sys
results, day = pathlib.Path(sys.argv[1]), sys.argv[2]
for f in sorted(results.glob(f"eval-demo-*-cpu-{day}.json")):
    t = json.loads(f.read_text())["results"]["text"]
    c = t["comparison"]
    print(f"{f.stem:36} KL {c['kld_mean']:.3e} (p99 {c['kld_p99']:.2e})  top-1 {c['top1_agreement']*100:.2f}%  "
          f"ppl {t['baseline']['perplexity']:.4f} -> {t['candidate']['perplexity']:.4f}")
PY
