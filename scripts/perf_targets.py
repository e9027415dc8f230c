#!/usr/bin/python3
"""The issue-14 performance targets as ratios, from an interleaved sweep of experiments/perf_targets.ini:

    ./mechbench machine && ./mechbench sweep experiments/perf_targets.ini && \\
        /usr/bin/python3 scripts/perf_targets.py results/perf_targets.h5 [--machine results/machine.h5]

For every target and thread count: the value in each round (from that round's median time), their median and the
interval [min, max] over the rounds, and whether the target is met over the whole interval ("met"), missed over
the whole interval ("missed") or only in some rounds ("mixed"). Ratios between kernels are taken round by round (the
same minutes) before they are summarised.
  attention.softmax.flash      % of the FP32 FMA peak of `mechbench machine` (1 thread: the 1-core peak; T threads:
                               the all-cores peak), with the kernel's FLOP model; >= 70 % (causal: >= 60 %)
  ssm.mamba.scan_seq           state updates per second, batch x L x D x N / time; >= 3 G/s
  attention.linear.elu_chunked time / attention.linear.elu_rnn time at the same point and round; <= 1
Targets are quoted at 1 thread (issue 14 item 6); other thread counts are printed against the same numbers.
"""
import argparse
import sys
import time

import h5py
import numpy as np


def fail(message):
    print(f"perf_targets.py: {message}", file=sys.stderr)
    sys.exit(1)


def load_rows(path):
    try:
        with h5py.File(path, "r") as f:
            p = f["points"][...]
            committed = int(f["points"].attrs.get("committed_rows", len(p)))
    except (OSError, KeyError) as e:
        fail(f"{path}: not a mechbench results file ({e})")
    p = p[:committed]
    p = p[np.isin(p["verdict"], [b"pass", b"fail"])]
    rounds = p["round"] if "round" in p.dtype.names else np.zeros(len(p), dtype=np.int64)
    return p, rounds


def load_peaks(path):
    """(FMA peak 1 core, all cores, when measured) from `mechbench machine`'s file; zeros when absent."""
    try:
        with h5py.File(path, "r") as f:
            measured = f.attrs.get("measured", b"?")
            return (float(f.attrs.get("fma_gflops_1core", 0)), float(f.attrs.get("fma_gflops_all", 0)),
                    measured.decode() if isinstance(measured, bytes) else str(measured))
    except OSError:
        return 0.0, 0.0, "?"


def per_round(p, rounds, kernel, **axes):
    """{round: row} of kernel at the point given by axes (the last row of a round wins)."""
    mask = p["kernel"] == kernel.encode()
    for name, value in axes.items():
        mask &= p[name] == value
    return {int(r): row for r, row in zip(rounds[mask], p[mask])}


def summary(values, target, higher_is_better):
    v = np.array(values)
    ok = v >= target if higher_is_better else v <= target
    verdict = "met" if ok.all() else "missed" if not ok.any() else "mixed"
    return np.median(v), v.min(), v.max(), verdict


def line(label, threads, values, target, higher, fmt, unit):
    if not values:
        print(f"  {label:<44} {threads:>2} thr  not measured")
        return
    med, lo, hi, verdict = summary(values, target, higher)
    rounds = " ".join(fmt.format(x) for x in values)
    sign = ">=" if higher else "<="
    print(f"  {label:<44} {threads:>2} thr  {fmt.format(med)} [{fmt.format(lo)}, {fmt.format(hi)}] {unit:<9} "
          f"target {sign} {fmt.format(target)}: {verdict:<6} (rounds: {rounds})")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="results of experiments/perf_targets.ini")
    ap.add_argument("--machine", default="results/machine.h5", help="from `mechbench machine`")
    args = ap.parse_args()
    p, rounds = load_rows(args.results)
    fma_1, fma_all, measured = load_peaks(args.machine)
    thread_counts = sorted({int(t) for t in p["threads"]})
    print(f"{args.results}: {len(set(rounds.tolist()))} rounds; values: median [min, max] over the rounds")
    if fma_1 > 0:
        start, end = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for t in (p["started"].min(), p["started"].max()))
        print(f"FMA peak (FP32, {args.machine}, measured {measured}): {fma_1:.1f} GFLOP/s on 1 core, {fma_all:.1f} on "
              f"all cores; the sweep ran {start} .. {end} (a % of peak is only as good as the peak's minutes)")
    else:
        print(f"no FMA peak in {args.machine} (run `mechbench machine`): % of peak not available")

    print("attention.softmax.flash, n = 4096, 8 heads: % of the FMA peak")
    for d in (64, 128):
        for causal in (0, 1):
            for t in thread_counts:
                rows = per_round(p, rounds, "attention.softmax.flash", n=4096, d=d, heads=8, causal=causal, threads=t)
                peak = fma_1 if t == 1 else fma_all
                values = [100 * r["gflops"] / peak for _, r in sorted(rows.items())] if peak > 0 else []
                line(f"d = {d}, causal = {causal}", t, values, 60 if causal else 70, True, "{:.1f}", "% of peak")
                if any(v > 100 for v in values):
                    print("    above 100 %: the machine was slower when the peak was measured (rerun `mechbench machine`)")

    print("ssm.mamba.scan_seq, L = 1024, D = 1536, N = 16: state updates per second")
    for t in thread_counts:
        rows = per_round(p, rounds, "ssm.mamba.scan_seq", n=1024, d=1536, rank=16, threads=t)
        values = [r["batch"] * r["n"] * r["d"] * r["rank"] / r["time_median"] / 1e9 for _, r in sorted(rows.items())]
        line("batch 1", t, values, 3.0, True, "{:.2f}", "G/s")

    print("attention.linear.elu_chunked / attention.linear.elu_rnn, n = 16384, d = 64, 8 heads, causal: time ratio")
    for t in thread_counts:
        point = dict(n=16384, d=64, heads=8, causal=1, threads=t)
        chunked = per_round(p, rounds, "attention.linear.elu_chunked", **point)
        rnn = per_round(p, rounds, "attention.linear.elu_rnn", **point)
        values = [chunked[r]["time_median"] / rnn[r]["time_median"] for r in sorted(set(chunked) & set(rnn))]
        line("chunked / rnn (same round)", t, values, 1.0, False, "{:.2f}", "x")


if __name__ == "__main__":
    main()
