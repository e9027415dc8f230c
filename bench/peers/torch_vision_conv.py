#!/usr/bin/python3
"""PyTorch peer for the vision conv families: time F.conv_transpose2d and conv2d + F.pixel_shuffle at the
vision.conv_transpose2d / vision.subpixel_conv points of a mechbench results file and append the rows under kernel
names `peer.torch.*`.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        /usr/bin/python3 bench/peers/torch_vision_conv.py results/vision_conv.h5 --threads 1

Peers (float32, no grad; PyTorch picks oneDNN for these transposed convolutions):
  peer.torch.conv_transpose2d   F.conv_transpose2d(input, weight, bias, stride, padding, output_padding, groups,
                                dilation)
  peer.torch.subpixel_conv      F.pixel_shuffle(F.conv2d(input, weight, bias, padding=k // 2), r)
Thread settings, torch version, ATen capability and GLIBC_TUNABLES are written into each row's `message`.
"""
import re
import sys
import time

import peerlib  # first: it re-executes the peer in the fair environment before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


AXES = ("batch", "channels", "height", "width", "ksize", "scale")
FAMILIES = {b"vision.conv_transpose2d": "peer.torch.conv_transpose2d", b"vision.subpixel_conv": "peer.torch.subpixel_conv"}


def parse_params(text):
    out = {}
    for item in re.split("[;,]", text):
        key, _, value = item.partition("=")
        if key:
            out[key] = int(value)
    return out


def make_peer(name, point, prm, gen):
    """(callable, FLOPs, bytes, float64 reference) at one point."""
    batch, cin, h, w, k, scale = point
    if name == "peer.torch.conv_transpose2d":
        cout = prm.get("out_channels") or cin
        g, s = prm.get("groups", 1), prm.get("stride") or scale
        kw = dict(stride=s, padding=prm.get("padding", 0), output_padding=prm.get("output_padding", 0), groups=g,
                  dilation=prm.get("dilation", 1))
        x, wt, b = torch.randn(batch, cin, h, w, generator=gen), torch.randn(cin, cout // g, k, k, generator=gen), \
            torch.randn(cout, generator=gen)
        fn = lambda: F.conv_transpose2d(x, wt, b, **kw)
        flops = 2.0 * batch * cin * (cout // g) * k * k * h * w
        out = fn()
        nbytes = 4.0 * (x.numel() + wt.numel() + b.numel() + out.numel())
        return fn, flops, nbytes, lambda: F.conv_transpose2d(x.double(), wt.double(), b.double(), **kw)
    c = prm.get("out_channels") or cin
    x, wt, b = torch.randn(batch, cin, h, w, generator=gen), torch.randn(c * scale * scale, cin, k, k, generator=gen), \
        torch.randn(c * scale * scale, generator=gen)
    fn = lambda: F.pixel_shuffle(F.conv2d(x, wt, b, padding=k // 2), scale)
    flops = 2.0 * batch * c * scale * scale * cin * k * k * h * w
    nbytes = 4.0 * (x.numel() + wt.numel() + b.numel() + 2 * batch * c * scale * scale * h * w)
    return fn, flops, nbytes, lambda: F.pixel_shuffle(F.conv2d(x.double(), wt.double(), b.double(), padding=k // 2),
                                                      scale)


def main():
    ap = peerlib.arguments(__doc__, reps=5, min_time=0.05)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = peerlib.settings(args.threads)
    f = peerlib.open_results("torch_vision_conv.py", args.results)
    with f:
        p = f["points"][...]
        rows = p[np.isin(p["family"], list(FAMILIES)) & (p["threads"] == args.threads) &
                 np.isin(p["verdict"], [b"pass", b"fail"])]
        points = sorted({(FAMILIES[r["family"]], tuple(int(r[a]) for a in AXES), r["params"].decode()) for r in rows})
        have = {(r["kernel"].decode(), tuple(int(r[a]) for a in AXES), r["params"].decode(), peerlib.round_of(r))
                for r in p if r["kernel"].startswith(b"peer.")}
        peerlib.add_kernels(f, [{"name": name, "family": fam.decode(), "mechanism": fam.decode().split(".")[1],
                                 "exact": 1, "oracle": "torch float64", "rank_meaning": "",
                                 "complexity": "O(C_in C_out k^2 H W)", "source": "bench/peers/torch_vision_conv.py",
                                 "source_hash": "peer"} for fam, name in FAMILIES.items()])
        for rnd, (name, point, params) in ((rnd, x) for rnd in range(args.rounds) for x in points):
            if (name, point, params) == points[0]:
                gen = torch.Generator().manual_seed(int(f.attrs.get("seed", 42)))  # each round: the same inputs
            if (name, point, params, rnd) in have:
                continue
            fn, flops, nbytes, reference = make_peer(name, point, parse_params(params), gen)
            fields = dict(zip(AXES, point), kernel=name, family="vision.conv_transpose2d" if "transpose" in name
                          else "vision.subpixel_conv", source_hash="peer", params=params, threads=args.threads,
                          flops=flops, bytes=nbytes, input_bytes=nbytes, started=time.time(), tolerance=1e-5,
                          round=rnd)
            with torch.no_grad():
                iterations, samples = peerlib.time_peer(fn, args.reps, args.min_time)
                own = peerlib.errors(fn(), reference())
            fields.update(peerlib.timing_fields(iterations, samples, flops, nbytes), **peerlib.error_fields(own, own),
                          verdict="pass" if own[1] <= 1e-5 else "fail", message=settings)
            peerlib.append_row(f, fields, samples)
            print(f"{name} {dict(zip(AXES, point))} {params}: {fields['time_median'] * 1e3:.4g} ms, "
                  f"{fields['gflops']:.1f} GFLOP/s", file=sys.stderr)


if __name__ == "__main__":
    main()
