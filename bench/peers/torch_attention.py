#!/usr/bin/python3
"""PyTorch peer for the attention family: time PyTorch's CPU attention at the points of a mechbench results file
and append the rows to the same file under kernel names `peer.torch.*`, so one plot shows both.

    OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/peers/torch_attention.py results/x.h5 --threads 2

Peers (q, k, v of shape (batch, heads, n, d), float32, same seeded-normal statistics as mechbench's inputs):
  peer.torch.matmul_softmax   softmax(q k^T / sqrt(d) [+ causal mask]) v, three ATen ops (materialises n x n)
  peer.torch.mha              nn.MultiheadAttention forward (model width heads * d; includes the 4 projections)
  peer.torch.linear_elu       phi(q) (phi(k)^T v) / (phi(q) phi(k)^T 1 + 1e-6), phi = elu + 1 (non-causal only)

Timing follows mechbench: per repetition, enough iterations to last --min-time seconds, --reps repetitions,
one warm-up run first (fresh-buffer page faults make the first call much slower). The thread settings, the torch
version and the ATen CPU capability are written into each row's `message`, so the rows say how they were made.
Rows whose inputs + modelled workspace exceed --max-mem are recorded as skipped-budget, as mechbench does.
"""
import math
import sys
import time

import peerlib  # first: it re-executes the peer in the fair environment before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402

from peerlib import append_row, errors, time_peer

PEERS = ("peer.torch.matmul_softmax", "peer.torch.mha", "peer.torch.linear_elu")
AXES = ("n", "d", "heads", "batch", "causal")


def softmax_attention(q, k, v, causal):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n = q.shape[-2]
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def linear_elu(q, k, v):
    pq, pk = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    kv = pk.transpose(-1, -2) @ v
    z = pq @ pk.sum(dim=-2, keepdim=True).transpose(-1, -2) + 1e-6
    return (pq @ kv) / z


def make_peer(name, q, k, v, causal):
    """Returns (callable, flops, workspace bytes, reference function in float64) or None if unsupported."""
    b, h, n, d = q.shape
    if name == "peer.torch.matmul_softmax":
        return (lambda: softmax_attention(q, k, v, causal), b * h * (4.0 * n * n * d), 4.0 * b * h * n * n,
                lambda: softmax_attention(q.double(), k.double(), v.double(), causal))
    if name == "peer.torch.linear_elu":
        if causal:
            return None
        return (lambda: linear_elu(q, k, v), b * h * (4.0 * n * d * d + 8.0 * n * d), 4.0 * b * h * 2 * n * d,
                lambda: linear_elu(q.double(), k.double(), v.double()))
    # nn.MultiheadAttention with identity projections computes the same attention as the core (plus 4 GEMMs)
    width = h * d
    mha = torch.nn.MultiheadAttention(width, h, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([torch.eye(width)] * 3))
        mha.out_proj.weight.copy_(torch.eye(width))
    merge = lambda t: t.transpose(1, 2).reshape(b, n, width).contiguous()  # noqa: E731
    mq, mk, mv = merge(q), merge(k), merge(v)
    mask = torch.ones(n, n, dtype=torch.bool).triu(1) if causal else None

    def run():
        with torch.no_grad():
            return mha(mq, mk, mv, attn_mask=mask, need_weights=False)[0].reshape(b, n, h, d).transpose(1, 2)

    return (run, b * h * 4.0 * n * n * d + 4 * 2.0 * b * n * width * width, 4.0 * b * h * n * n,
            lambda: softmax_attention(q.double(), k.double(), v.double(), causal))


def add_kernels(f):
    peerlib.add_kernels(f, [
        {"name": name, "family": "attention", "mechanism": "linear.elu" if "linear" in name else "softmax",
         "approximates": "softmax" if "linear" in name else "", "exact": 0 if "linear" in name else 1,
         "oracle": "torch float64", "rank_meaning": "", "complexity": "O(n d^2)" if "linear" in name else "O(n^2 d)",
         "source": "bench/peers/torch_attention.py", "source_hash": "peer"} for name in PEERS])


def main():
    ap = peerlib.arguments(__doc__, reps=3, min_time=0.05)
    ap.add_argument("--max-mem", type=float, default=8e9, help="bytes")
    ap.add_argument("--peers", default=",".join(PEERS))
    ap.add_argument("--max-n", type=int, default=8192, help="skip longer sequences (torch's n x n path is slow)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = peerlib.settings(args.threads)
    f = peerlib.open_results("torch_attention.py", args.results)
    with f:
        p = f["points"][...]
        attention = p[(p["family"] == b"attention") & np.isin(p["verdict"], [b"pass", b"fail"])]
        points = sorted({tuple(int(r[a]) for a in AXES) for r in attention if int(r["n"]) <= args.max_n})
        have = {(r["kernel"].decode(), tuple(int(r[a]) for a in AXES), int(r["threads"]), peerlib.round_of(r))
                for r in p if r["kernel"].startswith(b"peer.")}
        add_kernels(f)
        for rnd, point in ((rnd, point) for rnd in range(args.rounds) for point in points):
            n, d, heads, batch, causal = point
            gen = torch.Generator().manual_seed(int(f.attrs.get("seed", 42)) + n * 131 + d * 7 + heads + causal)
            q, k, v = (torch.randn(batch, heads, n, d, generator=gen) for _ in range(3))
            for name in args.peers.split(","):
                if (name, point, args.threads, rnd) in have:
                    continue
                peer = make_peer(name, q, k, v, causal)
                if peer is None:
                    continue
                fn, flops, workspace, reference = peer
                fields = dict(zip(AXES, point), kernel=name, family="attention", source_hash="peer",
                              threads=args.threads, message=settings, flops=flops, workspace_bytes=workspace,
                              input_bytes=16.0 * batch * heads * n * d, bytes=16.0 * batch * heads * n * d,
                              started=time.time(), tolerance=1e-4, round=rnd)
                if workspace + fields["input_bytes"] > args.max_mem:
                    fields.update(verdict="skipped-budget", message="> --max-mem; " + settings)
                    append_row(f, fields, np.zeros(0))
                    continue
                with torch.no_grad():
                    iterations, samples = time_peer(fn, args.reps, args.min_time)
                    got = fn()
                    check = n <= 4096  # the float64 reference is O(n^2) memory
                    own = errors(got, reference()) if check else (0.0, 0.0, 0.0, 0)
                    exact = own if "linear" not in name or not check else \
                        errors(got, softmax_attention(q.double(), k.double(), v.double(), causal))
                fields.update(peerlib.timing_fields(iterations, samples, flops, fields["bytes"]),
                              **peerlib.error_fields(own, exact),
                              verdict="pass" if own[1] <= 1e-4 else "fail",
                              message=settings if check else "unchecked n>4096; " + settings)
                append_row(f, fields, samples)
                print(f"{name} n={n} d={d} heads={heads} causal={causal} threads={args.threads} round={rnd}: "
                      f"{fields['time_median'] * 1e3:.4g} ms, {fields['gflops']:.1f} GFLOP/s", file=sys.stderr)


if __name__ == "__main__":
    main()
