#!/usr/bin/python3
"""Time ratios to the frozen layer (peft.linear.base) in a peft results file, per point (n, d, batch, threads):
every other kernel's median time / the base's median time, measured in the same run (experiments/peft_lora.ini:
merged / base and unmerged / base, the LoRA headline; experiments/peft_adapter.ini: the adapters' overhead), the
PyTorch peers included. `mechbench claims lora_merged_no_latency_* adapter_overhead_*` gives bootstrap intervals.

    /usr/bin/python3 scripts/peft_ratios.py results/peft_lora.h5 [results/peft_adapter.h5 ...]
"""
import sys

import h5py
import numpy as np

BASE = "peft.linear.base"


def table(path):
    with h5py.File(path, "r") as f:
        p = f["points"][...]
    p = p[np.isin(p["verdict"], [b"pass", b"fail"])]
    median = {}
    for r in p:
        median.setdefault((int(r["n"]), int(r["d"]), int(r["batch"]), int(r["threads"])), {})[r["kernel"].decode()] = \
            float(r["time_median"])
    kernels = sorted({k for by in median.values() for k in by if k != BASE})
    print(f"{path}: time / {BASE}")
    print(f"{'n':>6} {'d':>6} {'batch':>5} {'thr':>3} {'base ms':>9} " + " ".join(f"{k:>26}" for k in kernels))
    for (n, d, batch, threads), by in sorted(median.items()):
        if BASE not in by:
            continue
        cells = " ".join(f"{by[k] / by[BASE]:>26.3f}" if k in by else f"{'-':>26}" for k in kernels)
        print(f"{n:>6} {d:>6} {batch:>5} {threads:>3} {by[BASE] * 1e3:>9.3f} {cells}")


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: peft_ratios.py RESULTS.h5 ...")
    for path in sys.argv[1:]:
        table(path)


if __name__ == "__main__":
    main()
