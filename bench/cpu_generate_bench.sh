#!/usr/bin/env bash
# CPU speed of turbolm on a model of real shape with random weights, in llama-bench's terms:
# prefill of a P-token prompt (pp) and decode of N tokens after it (tg), for each matmul precision.
#
#   bench/cpu_generate_bench.sh [config_dir] [prompt_tokens] [new_tokens] [repeats]
#
# Writes bench/results/cpu-generate-<model>-<date>.json (date, machine, commit, command, figures)
# and prints a short table. Defaults: bench/configs/llama-3.2-1b, 512, 128, 3.
set -euo pipefail
cd "$(dirname "$0")/.."

config=${1:-bench/configs/llama-3.2-1b}
prompt_tokens=${2:-512}
new_tokens=${3:-128}
repeats=${4:-3}
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
printf '%s\n' "${runs[@]}" | python3 -c '
import json, platform, statistics, subprocess, sys
runs = [json.loads(line) for line in sys.stdin if line.strip()]
def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()
summary = {}
for p in sorted({r["precision"] for r in runs}):
    rs = [r["result"] for r in runs if r["precision"] == p]
    summary[p] = {
        "prefill_tokens_per_second_median": statistics.median(r["prefill_tokens_per_second"] for r in rs),
        "decode_tokens_per_second_median": statistics.median(r["decode_tokens_per_second"] for r in rs),
        "threads": rs[0]["threads"],
    }
out = {
    "benchmark": "cpu-generate",
    "date": sys.argv[1],
    "machine": {"cpu": cpu_name(), "cores": int(subprocess.check_output(["nproc"]).strip())},
    "commit": subprocess.check_output(["git", "rev-parse", "--short", "HEAD"]).decode().strip(),
    "command": sys.argv[2],
    "model": sys.argv[3],
    "prompt_tokens": int(sys.argv[4]),
    "new_tokens": int(sys.argv[5]),
    "summary": summary,
    "runs": [{"precision": r["precision"], "run": r["run"],
              "prefill_tokens_per_second": r["result"]["prefill_tokens_per_second"],
              "decode_tokens_per_second": r["result"]["decode_tokens_per_second"]} for r in runs],
}
json.dump(out, open(sys.argv[6], "w"), indent=2)
print(f"{\"precision\":<10} {\"prefill tok/s\":>14} {\"decode tok/s\":>13}")
for p, s in summary.items():
    print(f"{p:<10} {s[\"prefill_tokens_per_second_median\"]:>14.1f} {s[\"decode_tokens_per_second_median\"]:>13.2f}")
' "$date_utc" "bench/cpu_generate_bench.sh $*" "$model" "$prompt_tokens" "$new_tokens" "$result"
echo "wrote $result"
