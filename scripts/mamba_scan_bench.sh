#!/usr/bin/env bash
# The Mamba selective-scan target: ssm.mamba.scan_parallel against ssm.mamba.scan_seq at batch 1, D = 1 and 2,
# N = 16, L = 65536 (the regime where parallelism over channels is not enough), on 1 and 2 threads; time per
# (L x D x N) element and how many exps' time one element costs (against the SLEEF expf16 throughput measured by
# `mechbench machine` on this machine).
#
#   scripts/mamba_scan_bench.sh            # REPEAT=3 runs of each; MACHINE_OUT=file to keep the machine numbers
#   L=16384 REPEAT=5 SEED=2 scripts/mamba_scan_bench.sh
#
# Each run is `mechbench run ... --reps 10 --min-time 0.2 --json`; the table gives the median of the runs'
# medians and the min of their mins. The machine is measured first (a few seconds) into MACHINE_OUT (default: a
# temporary file, so results/machine.h5 is left alone).
set -euo pipefail
cd "$(dirname "$0")/.."
L=${L:-65536}
N=${N:-16}
REPEAT=${REPEAT:-3}
THREADS=${THREADS:-"1 2"}
DS=${DS:-"1 2"}
SEED=${SEED:-42} # the inputs' seed (42: mechbench's default; 2: a D = 1 channel whose decay stays live, the harder case)
BIN=./mechbench
[ -x "$BIN" ] || make -s
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
MACHINE_OUT=${MACHINE_OUT:-$tmp/machine.h5}

$BIN machine --out "$MACHINE_OUT" --reps 3 2>/dev/null | tee "$tmp/machine.txt"
exp1=$(awk '/^exp throughput/ {print $3}' "$tmp/machine.txt")

for d in $DS; do
    for t in $THREADS; do
        for k in scan_seq scan_parallel; do
            for r in $(seq "$REPEAT"); do
                $BIN run "ssm.mamba.$k" --n "$L" --d "$d" --rank "$N" --batch 1 --threads "$t" --seed "$SEED" --reps 10 \
                    --min-time 0.2 --json 2>/dev/null >>"$tmp/runs.jsonl"
            done
        done
    done
done

/usr/bin/python3 - "$tmp/runs.jsonl" "$exp1" <<'EOF'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip().startswith("{")]
exp_gps = float(sys.argv[2]) if sys.argv[2] else 0.0
runs = {}
for r in rows:
    runs.setdefault((r["d"], r["threads"], r["kernel"].split(".")[-1]), []).append(r)
print()
print(f"L = {rows[0]['n']}, N = {rows[0]['rank']}, batch 1; {len(rows)} runs; exp throughput {exp_gps:.2f} G exp/s on 1 core")
print("ns/elem: median wall time per (L x D x N) element; exp-times/elem: its core time (wall x threads) in units of")
print("one SLEEF expf on one core (the scan does 1 exp per element: 1.0 would be the exp bound)")
print(f"{'D':>2} {'thr':>3} {'kernel':<14} {'median ms':>10} {'min ms':>8} {'ns/elem':>8} {'exp-times/elem':>14} {'verdict':>8}")
summary = {}
for (d, t, k), rs in sorted(runs.items()):
    med = statistics.median(r["time_median"] for r in rs)
    mn = min(r["time_min"] for r in rs)
    r0 = rs[0]
    elems = r0["batch"] * r0["d"] * r0["n"] * r0["rank"]
    ns = med / elems * 1e9
    # one element on t threads costs ns * t thread-nanoseconds; an exp costs 1 / exp_gps ns on one core
    exps = ns * t * exp_gps if exp_gps else float("nan")
    verdict = ",".join(sorted({r["verdict"] for r in rs}))
    summary[(d, t, k)] = (med, mn)
    print(f"{d:>2} {t:>3} {k:<14} {med*1e3:>10.4f} {mn*1e3:>8.4f} {ns:>8.3f} {exps:>14.2f} {verdict:>8}")
print()
print("speedup of scan_parallel over scan_seq at the same threads (median / min), and over scan_seq on 1 thread:")
for (d, t, k), (med, mn) in sorted(summary.items()):
    if k != "scan_parallel" or (d, t, "scan_seq") not in summary:
        continue
    smed, smn = summary[(d, t, "scan_seq")]
    one = summary.get((d, 1, "scan_seq"))
    vs1 = f"  {one[0] / med:.2f}x / {one[1] / mn:.2f}x over scan_seq on 1 thread" if one else ""
    print(f"  D={d} threads={t}: {smed / med:.2f}x / {smn / mn:.2f}x{vs1}")
EOF
