#!/usr/bin/env bash
# Ember's CPU backend against llama.cpp's, same synthetic Qwen3 weights, same
# threads, f16 KV cache: decode (32 tokens after a 512-token context) and a
# 512-token prefill, for bf16 and f16 weights, run interleaved (the engine
# that goes first alternates by round) and compared as paired ratios per
# round, medians over the rounds, so that a shared machine's load hits both
# alike. Also prints each engine's 1→2 thread decode scaling and, from
# `ember bench` in the same runs, decode's fraction of the read bandwidth and
# prefill's fraction of the FMA peak.
#
# llama.cpp is not part of Ember: build its llama-bench yourself (CPU backend,
# e.g. cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF && cmake --build build
# --target llama-bench) and point LLAMA at its checkout. Its gguf-py (numpy,
# no torch) converts the weights (tools/safetensors-to-gguf.py).
#
# usage: LLAMA=/path/to/llama.cpp tools/bench-vs-llama.sh [ROUNDS] [THREADS...]
#   ROUNDS defaults to 5, THREADS to "1 2".
# env:  LLAMA        llama.cpp checkout with build/bin/llama-bench (required)
#       WORK         scratch folder for models and logs (/tmp/ember-vs-llama)
#       EMBER        ember binary (default: built from this tree into WORK)
#       DTYPES       weight types (default "bf16 f16")
#       PROMPT       prefill and decode-context tokens (512), DECODE steps (32)
#       PYTHON       a python3 with numpy (default: the first of python3, /usr/bin/python3 that has it)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
: "${LLAMA:?set LLAMA to a llama.cpp checkout whose build/bin/llama-bench is built}"
bench_bin=$LLAMA/build/bin/llama-bench
[[ -x $bench_bin ]] || { echo "bench-vs-llama: $bench_bin is not an executable; build llama-bench first" >&2; exit 1; }
WORK=${WORK:-/tmp/ember-vs-llama}
DTYPES=${DTYPES:-bf16 f16}
PROMPT=${PROMPT:-512}
DECODE=${DECODE:-32}
rounds=${1:-5}
shift || true
threads=("$@")
[[ ${#threads[@]} -gt 0 ]] || threads=(1 2)
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-llama: ROUNDS must be a positive integer, got '$rounds'" >&2; exit 1; }
for t in "${threads[@]}"; do
	[[ $t =~ ^[1-9][0-9]*$ ]] || { echo "bench-vs-llama: THREADS must be positive integers, got '$t'" >&2; exit 1; }
done
# The converter needs numpy; take the first python3 that has it (a pyenv
# python3 on PATH may not, while Debian's python3-numpy serves /usr/bin/python3).
py=""
for cand in "${PYTHON:-}" "$(command -v python3 || true)" /usr/bin/python3; do
	if [[ -n $cand && -x $cand ]] && "$cand" -c 'import numpy' 2>/dev/null; then
		py=$cand
		break
	fi
done
[[ -n $py ]] || { echo "bench-vs-llama: no python3 with numpy (set PYTHON, or install python3-numpy)" >&2; exit 1; }
mkdir -p "$WORK"

if [[ -z ${EMBER:-} ]]; then
	EMBER=$WORK/ember
	(cd "$root" && go build -o "$EMBER" ./ember-cli/cmd/ember)
fi

for dt in $DTYPES; do
	snap=$WORK/q06-$dt
	if [[ ! -f $snap/model.safetensors ]]; then
		"$EMBER" synth --preset Qwen3-0.6B --seed 1 --dtype "$dt" --out "$snap" >&2
	fi
	if [[ ! -f $snap.gguf || $snap.gguf -ot $snap/model.safetensors ]]; then
		PYTHONPATH=$LLAMA/gguf-py "$py" "$root/tools/safetensors-to-gguf.py" "$snap" "$snap.gguf.tmp"
		mv "$snap.gguf.tmp" "$snap.gguf"
	fi
done

log=$WORK/runs.tsv
printf 'round\tdtype\tthreads\tengine\ttest\ttok_s\tbw_frac\tfma_frac\tload1\n' >"$log"
load() { cut -d' ' -f1 /proc/loadavg; }

run_ember() { # dtype threads round
	local out
	out=$("$EMBER" bench --backend cpu -m "$WORK/q06-$1" --threads "$2" --kv-dtype f16 \
		--prompt-len "$PROMPT" --decode-steps "$DECODE" --prefill-runs 1 --json)
	"$py" -c '
import json, sys
r = json.loads(sys.argv[1]); rd, dt, t, load = sys.argv[2:]
print("\t".join([rd, dt, t, "ember", "pp", "%.3f" % r["prefill_tok_s"], "", "%.4f" % r["prefill_fma_fraction"], load]))
print("\t".join([rd, dt, t, "ember", "tg", "%.3f" % r["decode_tok_s"], "%.4f" % r["decode_bandwidth_fraction"], "", load]))
if r["decode_allocs_per_step"]:
    n = r.get("decode_threads_started", 0)
    print("bench-vs-llama: ember decode allocated %.2f times per step (the Go runtime started %d OS thread%s meanwhile)"
          % (r["decode_allocs_per_step"], n, "" if n == 1 else "s"), file=sys.stderr)
' "$out" "$3" "$1" "$2" "$(load)" >>"$log"
}

run_llama() { # dtype threads round
	local pp tg
	pp=$("$bench_bin" -m "$WORK/q06-$1.gguf" -t "$2" -ctk f16 -ctv f16 -p "$PROMPT" -n 0 -r 1 -o json 2>/dev/null)
	tg=$("$bench_bin" -m "$WORK/q06-$1.gguf" -t "$2" -ctk f16 -ctv f16 -p 0 -n "$DECODE" -d "$PROMPT" -r 1 -o json 2>/dev/null)
	"$py" -c '
import json, sys
a = sys.argv[3:]
for test, doc in (("pp", sys.argv[1]), ("tg", sys.argv[2])):
    r = json.loads(doc)[0]
    print("\t".join([a[0], a[1], a[2], "llama", test, "%.3f" % r["avg_ts"], "", "", a[3]]))
' "$pp" "$tg" "$3" "$1" "$2" "$(load)" >>"$log"
}

for ((r = 1; r <= rounds; r++)); do
	for dt in $DTYPES; do
		for t in "${threads[@]}"; do
			echo "round $r/$rounds: $dt, $t thread(s), load $(load)" >&2
			if ((r % 2)); then
				run_ember "$dt" "$t" "$r"
				run_llama "$dt" "$t" "$r"
			else
				run_llama "$dt" "$t" "$r"
				run_ember "$dt" "$t" "$r"
			fi
		done
	done
done

"$py" - "$log" <<'PY'
import csv, statistics as st, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
v = {}
for r in rows:
    v[(r["round"], r["dtype"], int(r["threads"]), r["engine"], r["test"])] = r
rounds = sorted({r["round"] for r in rows}, key=int)
dtypes = list(dict.fromkeys(r["dtype"] for r in rows))
threads = sorted({int(r["threads"]) for r in rows})
med = lambda xs: st.median(xs) if xs else float("nan")
def ts(rd, dt, t, e, test):
    r = v.get((rd, dt, t, e, test))
    return float(r["tok_s"]) if r else None
loads = [float(r["load1"]) for r in rows]
print(f"# {len(rounds)} rounds, load average (1 min) during runs: median {med(loads):.2f}, range {min(loads):.2f}-{max(loads):.2f}")
print("dtype  thr  test   ember tok/s  llama tok/s  ember/llama (median [min-max] of paired rounds)  ember bw/fma frac")
for dt in dtypes:
    for t in threads:
        for test, name in (("tg", "decode"), ("pp", "pp")):
            e = [ts(rd, dt, t, "ember", test) for rd in rounds]
            l = [ts(rd, dt, t, "llama", test) for rd in rounds]
            ratios = [a / b for a, b in zip(e, l) if a and b]
            frac = [float(v[(rd, dt, t, "ember", test)]["bw_frac" if test == "tg" else "fma_frac"]) for rd in rounds if (rd, dt, t, "ember", test) in v]
            print(f"{dt:5}  {t:3}  {name:6} {med([x for x in e if x]):11.2f}  {med([x for x in l if x]):11.2f}  {med(ratios):6.3f} [{min(ratios):.3f}-{max(ratios):.3f}]{'':27}  {med(frac):.3f}")
if 1 in threads and 2 in threads:
    print("decode 1->2 thread scaling (median of per-round ratios)")
    for dt in dtypes:
        for e in ("ember", "llama"):
            s = [ts(rd, dt, 2, e, "tg") / ts(rd, dt, 1, e, "tg") for rd in rounds if ts(rd, dt, 2, e, "tg") and ts(rd, dt, 1, e, "tg")]
            print(f"  {dt:5} {e:6} {med(s):.3f} [{min(s):.3f}-{max(s):.3f}]")
PY
echo "per-run figures: $log" >&2
