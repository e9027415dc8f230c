#!/usr/bin/python3
"""PyTorch peer for the peft family: time PyTorch's linear layer and LoRA (as loralib computes it) at the peft
points of a mechbench results file and append the rows under kernel names `peer.torch.*`.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        /usr/bin/python3 bench/peers/torch_peft.py results/peft_lora.h5 --threads 1

Peers (input (batch, n, d_in), weight (d_out, d_in), bias, lora_A (r, d_in), lora_B (d_out, r), float32, no grad):
  peer.torch.linear          F.linear(input, weight, bias): the frozen layer, and merged LoRA (the same call on W)
  peer.torch.lora_unmerged   F.linear(input, weight, bias) + scaling * (input @ lora_A.T) @ lora_B.T (loralib)
  peer.torch.adapter_serial  h = F.linear(input, weight, bias); h + F.linear(act(F.linear(h, down_weight, down_bias)),
                             up_weight, up_bias) (Houlsby's adapter as an nn.Module would compute it; act from params)

Start it with glibc's huge-page malloc (above): torch allocates its outputs per call, and a fresh 4 KiB page costs
~6 us on these VMs (DEPENDENCY-NOTES), which would be measured as the peer's time. Thread settings, torch version,
ATen capability and GLIBC_TUNABLES are written into each row's `message`.
"""
import sys
import time

import peerlib  # first: it re-executes the peer in the fair environment before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402


PEERS = ("peer.torch.linear", "peer.torch.lora_unmerged", "peer.torch.adapter_serial")
KERNELS = {"peft.linear.base": "peer.torch.linear", "peft.lora.merged": "peer.torch.linear",
           "peft.lora.unmerged": "peer.torch.lora_unmerged", "peft.adapter.serial": "peer.torch.adapter_serial"}
ACTS = {"relu": torch.nn.ReLU(), "gelu": torch.nn.GELU(), "gelu_tanh": torch.nn.GELU(approximate="tanh")}
AXES = ("n", "d", "batch", "rank")


def param(params, key, default):
    """The value of key in a stored params string ("act=gelu_tanh;d_out=0;..."), or default."""
    for item in params.replace(";", ",").split(","):
        name, _, value = item.partition("=")
        if name == key:
            return value
    return default


def make_peer(name, t, scaling, act):
    """(callable, FLOPs, float64 reference) of a peer on tensors t."""
    x, w, b, a, bb = t["input"], t["weight"], t["bias"], t["lora_A"], t["lora_B"]
    tokens, d_in, d_out, r = x.shape[0] * x.shape[1], w.shape[1], w.shape[0], a.shape[0]
    linear = torch.nn.functional.linear
    if name == "peer.torch.adapter_serial":
        def adapter(x, w, b, dw, db, uw, ub):
            h = linear(x, w, b)
            return h + linear(act(linear(h, dw, db)), uw, ub)
        names = ("input", "weight", "bias", "down_weight", "down_bias", "up_weight", "up_bias")
        return (lambda: adapter(*(t[k] for k in names)), 2.0 * tokens * (d_in * d_out + 2 * r * d_out),
                lambda: adapter(*(t[k].double() for k in names)))
    if name == "peer.torch.linear":
        return (lambda: linear(x, w, b), 2.0 * tokens * d_in * d_out,
                lambda: linear(x.double(), w.double(), b.double()))
    return (lambda: linear(x, w, b) + scaling * (x @ a.T) @ bb.T, 2.0 * tokens * (d_in * d_out + r * (d_in + d_out)),
            lambda: linear(x.double(), w.double(), b.double()) + scaling * (x.double() @ a.double().T) @ bb.double().T)


def main():
    ap = peerlib.arguments(__doc__, reps=5, min_time=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = peerlib.settings(args.threads)
    f = peerlib.open_results("torch_peft.py", args.results)
    with f:
        p = f["points"][...]
        rows = p[np.char.startswith(p["family"], b"peft") & (p["threads"] == args.threads) & np.isin(p["verdict"], [b"pass", b"fail"])]
        # F.linear does not read the rank: the frozen layer's and merged LoRA's points share one peer row (rank 0)
        points = sorted({(KERNELS[r["kernel"].decode()],
                          tuple(0 if a == "rank" and KERNELS[r["kernel"].decode()] == "peer.torch.linear" else int(r[a])
                                for a in AXES), r["params"].decode(), float(r["alpha"]))
                         for r in rows if r["kernel"].decode() in KERNELS})
        have = {(r["kernel"].decode(), tuple(int(r[a]) for a in AXES), peerlib.round_of(r)) for r in p
                if r["kernel"].startswith(b"peer.")}
        peerlib.add_kernels(f, [{"name": name, "family": "peft.adapter" if "adapter" in name else "peft", "mechanism": name.split(".")[-1], "exact": 1, "oracle": "torch float64", "rank_meaning": "r",
                                 "source": "bench/peers/torch_peft.py",
                                 "source_hash": "peer"} for name in PEERS])
        for rnd, (name, point, params, alpha) in ((rnd, x) for rnd in range(args.rounds) for x in points):
            if (name, point, params, alpha) == points[0]:
                gen = torch.Generator().manual_seed(int(f.attrs.get("seed", 42)))  # each round: the same inputs
            n, d, batch, rank = point
            d_out = int(param(params, "d_out", "0")) or d
            if (name, point, rnd) in have:
                continue
            r = max(rank, 1)
            t = {"input": torch.randn(batch, n, d, generator=gen),
                 "weight": (torch.rand(d_out, d, generator=gen) * 2 - 1) * d ** -0.5,
                 "bias": (torch.rand(d_out, generator=gen) * 2 - 1) * d ** -0.5,
                 "lora_A": (torch.rand(r, d, generator=gen) * 2 - 1) * d ** -0.5,
                 "lora_B": torch.randn(d_out, r, generator=gen) * 0.02,
                 "down_weight": (torch.rand(r, d_out, generator=gen) * 2 - 1) * d_out ** -0.5,
                 "down_bias": (torch.rand(r, generator=gen) * 2 - 1) * d_out ** -0.5,
                 "up_weight": torch.randn(d_out, r, generator=gen) * 0.02,
                 "up_bias": torch.randn(d_out, generator=gen) * 0.02}
            act = ACTS[param(params, "act", "gelu_tanh")]
            fn, flops, reference = make_peer(name, t, (alpha if alpha > 0 else r) / r, act)
            nbytes = 4.0 * (batch * n * d + d_out * d + d_out + batch * n * d_out)
            fields = dict(zip(AXES, point), kernel=name, family="peft.adapter" if "adapter" in name else "peft", source_hash="peer", params=params,
                          alpha=alpha, threads=args.threads, flops=flops, bytes=nbytes,
                          input_bytes=nbytes, started=time.time(), tolerance=1e-5, round=rnd)
            with torch.no_grad():
                iterations, samples = peerlib.time_peer(fn, args.reps, args.min_time)
                own = peerlib.errors(fn(), reference())
            fields.update(peerlib.timing_fields(iterations, samples, flops, nbytes), **peerlib.error_fields(own, own),
                          verdict="pass" if own[1] <= 1e-5 else "fail", message=settings)
            peerlib.append_row(f, fields, samples)
            print(f"{name} n={n} d={d} batch={batch} rank={rank} threads={args.threads}: "
                  f"{fields['time_median'] * 1e3:.4g} ms, {fields['gflops']:.1f} GFLOP/s", file=sys.stderr)


if __name__ == "__main__":
    main()
