#!/usr/bin/env bash
# The continuous-batching engine on the GPU: offline throughput (every request submitted at once)
# and online latency (Poisson arrivals through the public engine API), Llama-3-8B shape, bf16,
# random weights. One JSON per run in RESULTS (default: bench/results), a table at the end. An
# offline run is one warm-up pass of its workload and the median of three measured passes.
#
#   BUILD_DIR=build-gpu bench/gpu_engine_bench.sh
#
# Targets (H100 class): offline 128/128 >= 12,000 output tokens/s, 2048/128 >= 1,500,
# 128/2048 >= 7,000. The online runs report TTFT and inter-token latency percentiles; the second
# one gives the KV cache a small share of memory so that requests are preempted, and checks that
# every request still gets exactly its tokens. The last sends the same arrivals through the HTTP
# server too (streaming OpenAI completions over loopback) to measure what HTTP costs.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build-gpu}
results=${RESULTS:-bench/results}
day=$(date -u +%F)
mkdir -p "$results"
status=0

run() {  # name, then turbolm bench flags
    local name=$1
    shift
    timeout 600 "$build/turbolm" bench --model bench/configs/llama-3-8b --dummy-weights --device cuda \
        --json "$results/cuda-$name-$day.json" "$@" || status=1
}

run offline-llama-3-8b-128-128 --mode offline -n 1024 -i 128 -o 128
run offline-llama-3-8b-2048-128 --mode offline -n 256 -i 2048 -o 128
run offline-llama-3-8b-128-2048 --mode offline -n 256 -i 128 -o 2048
run online-llama-3-8b-128-128-rate60 --mode online -n 1000 --rate 60 -i 128 -o 128
run online-llama-3-8b-128-128-rate100 --mode online -n 1500 --rate 100 -i 128 -o 128
run online-llama-3-8b-preempting --mode online -n 400 --rate 100 -i 128 -o 128 --kv-fraction 0.03
# Arrivals faster than the GPU can serve, through the engine API and then through the HTTP server.
run online-llama-3-8b-http-vs-api --mode online -n 1500 --rate 200 -i 128 -o 128 --http
run online-llama-3-8b-http-vs-api-rate60 --mode online -n 1000 --rate 60 -i 128 -o 128 --http

python3 - "$results" "$day" <<'PY'
import json, pathlib, sys
results, day = pathlib.Path(sys.argv[1]), sys.argv[2]
print(f"{'run':42} {'out tok/s':>10} {'TTFT p50/p99 ms':>18} {'ITL p50/p99 ms':>16} {'preempt':>8} {'checks':>12}")
for f in sorted(results.glob(f"cuda-o*line-llama-3-8b-*-{day}.json")):
  for r in json.loads(f.read_text())["runs"]:
    checks = ""
    if r["mode"] == "online":
        checks = f"{r['requests_with_wrong_token_count']} bad, {r['rerun_alone']['identical']}/{r['rerun_alone']['requests']}"
    if r["mode"] == "online-http":
        checks = f"{r['requests_with_wrong_token_count']} bad, {r['failed_requests']} failed"
    name = f.stem.replace(f"-{day}", "") + (" (HTTP)" if r["mode"] == "online-http" else "")
    print(f"{name:42} {r['output_tokens_per_second']:10.0f} "
          f"{r['ttft_ms']['p50']:8.1f}/{r['ttft_ms']['p99']:<8.1f} {r['inter_token_latency_ms']['p50']:7.2f}/{r['inter_token_latency_ms']['p99']:<7.2f} "
          f"{r.get('preemptions', 0):8d} {checks:>12}")
PY
exit $status
