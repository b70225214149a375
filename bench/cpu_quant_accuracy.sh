#!/usr/bin/env bash
# Accuracy of every quantized mode on the CPU reference: the demo model's whole held-out text,
# each mode against the unquantized model in f32 (`turbolm eval`), the calibrated methods written
# by `turbolm quantize` from models/demo/calibration.txt first. One JSON per mode in RESULTS
# (default: bench/results), a table last. bench/gpu_quant_bench.sh accuracy does the same on the GPU.
#
# Where the shared fixtures hold the trained stories260K Llama (STORIES, default
# ../shared/fixtures/llama2c-hf/stories260K), the modes that apply to its widths are scored on it
# too. Its tokenizer is not available, so the tokens are 64 sequences of 512 it sampled itself (BOS,
# then 511 at temperature 1, seeds 1..64), each scored as its own window. Its weights are f32: the
# baseline is the model rounded to bf16 (what the targets name), and one more run measures what that
# rounding alone costs against f32.
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

stories=${STORIES:-../shared/fixtures/llama2c-hf/stories260K}
if [ -f "$stories/model.safetensors" ]; then
    for seed in $(seq 1 64); do
        "$build/turbolm" generate --model "$stories" --prompt-ids 1 -n 511 --ignore-eos --temperature 1 \
            --seed "$seed" --json | python3 -c "import json, sys; print(1, *json.load(sys.stdin)['tokens'])"
    done >"$work/stories-samples.txt"
    # INT4 leaves its down projections (172 input columns, no multiple of 32 divides them) 16-bit and
    # groups the rest by 64; 128 x 128 FP8 blocks tile none of its projections; AWQ and SmoothQuant
    # calibrate on text.
    for mode in "int8 --round-weights bf16 --candidate-quantize int8" \
        "fp8 --round-weights bf16 --candidate-quantize fp8" \
        "int4-rtn --round-weights bf16 --candidate-quantize int4" \
        "kv-int8 --round-weights bf16 --candidate-kv-cache-dtype int8" \
        "kv-fp8 --round-weights bf16 --candidate-kv-cache-dtype fp8" \
        "bf16-rounding --candidate-round-weights bf16"; do
        set -- $mode
        name=$1
        shift
        "$build/turbolm" eval --model "$stories" --token-ids "$work/stories-samples.txt" --ctx 512 --stride 512 \
            --device cpu --json "$results/eval-stories260k-$name-cpu-$day.json" "$@" >/dev/null
    done
fi

python3 - "$results" "$day" <<'PY'
import json, pathlib, sys
results, day = pathlib.Path(sys.argv[1]), sys.argv[2]
for f in sorted(results.glob(f"eval-demo-*-cpu-{day}.json")) + sorted(results.glob(f"eval-stories260k-*-cpu-{day}.json")):
    t = json.loads(f.read_text())["results"]["text"]
    c = t["comparison"]
    print(f"{f.stem:36} KL {c['kld_mean']:.3e} (p99 {c['kld_p99']:.2e})  top-1 {c['top1_agreement']*100:.2f}%  "
          f"ppl {t['baseline']['perplexity']:.4f} -> {t['candidate']['perplexity']:.4f}")
PY
