#!/usr/bin/python3
"""The LoRA latency ratios of a peft results file (experiments/peft_lora.ini), per n: merged / base and
unmerged / base (the issue's headline numbers), and the PyTorch peers against ours when present. Ratios of
medians measured in the same run; `mechbench claims lora_merged_no_latency_*` gives bootstrap intervals.

    /usr/bin/python3 scripts/peft_ratios.py results/peft_lora.h5
"""
import sys

import h5py
import numpy as np


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: peft_ratios.py RESULTS.h5")
    with h5py.File(sys.argv[1], "r") as f:
        p = f["points"][...]
    p = p[np.isin(p["verdict"], [b"pass", b"fail"])]
    median = {(r["kernel"].decode(), int(r["n"]), int(r["d"]), int(r["threads"])): float(r["time_median"]) for r in p}
    shapes = sorted({k[1:] for k in median if k[0] == "peft.linear.base"})
    print(f"{'n':>6} {'d':>6} {'thr':>3} {'base ms':>9} {'merged/base':>12} {'unmerged/base':>14} "
          f"{'torch linear/base':>18} {'torch lora/unmerged':>20}")
    for n, d, threads in shapes:
        def t(kernel):
            return median.get((kernel, n, d, threads), float("nan"))
        base = t("peft.linear.base")
        print(f"{n:>6} {d:>6} {threads:>3} {base * 1e3:>9.3f} {t('peft.lora.merged') / base:>12.3f} "
              f"{t('peft.lora.unmerged') / base:>14.3f} {t('peer.torch.linear') / base:>18.3f} "
              f"{t('peer.torch.lora_unmerged') / t('peft.lora.unmerged'):>20.3f}")


if __name__ == "__main__":
    main()
