#!/usr/bin/env bash
# Side-by-side tokenizer speed: turbolm vs Hugging Face `tokenizers`, single thread, on the same
# text and tokenizer folders. Checks that both produce the identical id sequence and writes one JSON
# with both figures.
#
#   bench/tokenizer/run.sh [--gpt2 DIR] [--llama3 DIR] [--text FILE] [--repeat N] [--out FILE] [--bin FILE]
#
#   --gpt2 / --llama3  tokenizer folders (third-party files, never committed): default
#                      <shared>/assets/gpt2-tokenizer and <shared>/assets/llama3-tokenizer, where
#                      <shared> is ./shared or ../shared
#   --text             default bench/tokenizer/data/mixed_1mb.txt (make_mixed_text.sh regenerates it)
#   --bin              a built turbolm_tokenizer_speed; default: build it with scripts/build.sh
#   --out              default $OUT/tokenizer_speed.json when $OUT is set, else tokenizer_speed.json
# Needs python3 with `tokenizers` installed; the machine's CPU only, no GPU.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
shared=shared
[ -d "$shared/assets" ] || shared=../shared
gpt2="$shared/assets/gpt2-tokenizer"
llama3="$shared/assets/llama3-tokenizer"
text=bench/tokenizer/data/mixed_1mb.txt
repeat=5
out=${OUT:+$OUT/}tokenizer_speed.json
bin=
while [ $# -gt 0 ]; do
    case "$1" in
        --gpt2) gpt2=$2; shift 2 ;;
        --llama3) llama3=$2; shift 2 ;;
        --text) text=$2; shift 2 ;;
        --repeat) repeat=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
for p in "$gpt2" "$llama3" "$text"; do [ -e "$p" ] || { echo "missing: $p" >&2; exit 1; }; done

if [ -z "$bin" ]; then
    scripts/build.sh turbolm_tokenizer_speed >/dev/null
    bin=${TURBOLM_BUILD_DIR:-build}/turbolm_tokenizer_speed
fi

export OMP_NUM_THREADS=1 RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
results=()
status=0
for pair in "gpt2:$gpt2" "llama3:$llama3"; do
    name=${pair%%:*}
    dir=${pair#*:}
    ours=$("$bin" "$dir" "$text" --repeat "$repeat" --ids-out "$tmp/$name.ours")
    hf=$(python3 bench/tokenizer/hf_tokenizer_speed.py "$dir" "$text" --repeat "$repeat" --ids-out "$tmp/$name.hf")
    if cmp -s "$tmp/$name.ours" "$tmp/$name.hf"; then same=true; else same=false; status=1; fi
    results+=("{\"tokenizer\": \"$name\", \"ids_identical\": $same, \"turbolm\": $ours, \"hf\": $hf}")
done

python3 - "$out" "$text" "${results[@]}" <<'PY'
import datetime, json, platform, subprocess, sys
out, text, rows = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
cpu = platform.processor()
try:
    cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
except Exception:
    pass
import os
commit = os.environ.get("TURBOLM_COMMIT", "")
try:
    commit = commit or subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True).strip()
except Exception:
    commit = "unknown"
doc = {"bench": "tokenizer_speed", "date": datetime.date.today().isoformat(), "cpu": cpu, "commit": commit,
       "text": text, "threads": 1, "results": rows}
json.dump(doc, open(out, "w"), indent=2)
print("%-8s %12s %12s %8s %s" % ("vocab", "turbolm MB/s", "HF MB/s", "speedup", "ids identical"))
for r in rows:
    t, h = r["turbolm"]["mb_per_s"], r["hf"]["mb_per_s"]
    print("%-8s %12.2f %12.2f %7.1fx %s" % (r["tokenizer"], t, h, t / h, r["ids_identical"]))
print("wrote", out)
PY
exit $status
