#!/usr/bin/env bash
# CPU speed of turbolm on a model of real shape with random weights, in llama-bench's terms:
# prefill of a P-token prompt (pp) and decode of N tokens after it (tg), for each matmul precision.
#
#   bench/cpu_generate_bench.sh [config_dir] [prompt_tokens] [new_tokens] [repeats]
#
# Writes bench/results/cpu-generate-<model>-<date>.json (date, machine, commit, command, figures)
# and prints a short table. Defaults: bench/configs/llama-3.2-1b, 512, 128, 5.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-bench/configs/llama-3.2-1b}
prompt_tokens=${2:-512}
new_tokens=${3:-128}
repeats=${4:-5}
model=$(basename "$config")

scripts/install-deps.sh
scripts/build.sh turbolm >/dev/null
bin=${TURBOLM_BUILD_DIR:-build}/turbolm

prompt=$(python3 -c "print(','.join(str((i * 7919 + 13) % 128000) for i in range($prompt_tokens)))")
runs=()
for precision in f32 weight; do
    for r in $(seq "$repeats"); do
        out=$("$bin" generate --model "$config" --dummy-weights --seed "$r" --prompt-ids "$prompt" \
              -n "$new_tokens" --ignore-eos --temperature 0 --matmul-precision "$precision" --json)
        runs+=("{\"precision\": \"$precision\", \"run\": $r, \"result\": $out}")
    done
done

mkdir -p bench/results
date_utc=$(date -u +%Y-%m-%d)
result=bench/results/cpu-generate-$model-$date_utc.json
printf '%s\n' "${runs[@]}" | python3 bench/cpu_generate_summary.py "$date_utc" "bench/cpu_generate_bench.sh $*" \
    "$model" "$prompt_tokens" "$new_tokens" "$result"
echo "wrote $result"
