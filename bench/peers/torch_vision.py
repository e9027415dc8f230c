#!/usr/bin/python3
"""PyTorch peer for the vision families: time F.interpolate, nn.PixelShuffle and nn.PixelUnshuffle at the vision
points of a mechbench results file and append the rows under kernel names `peer.torch.*`.

    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 OMP_NUM_THREADS=1 \\
        /usr/bin/python3 bench/peers/torch_vision.py results/vision_upsample.h5 --threads 1

Peers (float32 (N, C, [D,] [H,] W) input, no grad), one per mechbench kernel at the same point and parameters:
  peer.torch.upsample.MODE   F.interpolate(input, scale_factor=s or size=..., mode=MODE, align_corners=...,
                             recompute_scale_factor=...) for MODE in nearest, nearest_exact, linear, bilinear,
                             bicubic, trilinear
  peer.torch.pixel_shuffle   nn.PixelShuffle(r)        peer.torch.pixel_unshuffle   nn.PixelUnshuffle(r)
Each row's error is against the same op on the float64 input. Start it with glibc's huge-page malloc (above): torch
allocates its outputs per call (DEPENDENCY-NOTES). Settings are written into each row's `message`.
--interleave K re-times mechbench's kernel and the peer K times each, alternately, at one point (the issue's
(2, 3, 512, 512) x2 ratios) and prints the ratios; it writes nothing.
"""
import subprocess
import sys
import time
from pathlib import Path

import peerlib  # first: it re-executes the peer in the fair environment before torch loads

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


AXES = ("batch", "channels", "height", "width", "scale")
MODES = {"nearest": "nearest", "nearest_exact": "nearest-exact", "linear": "linear", "bilinear": "bilinear",
         "bicubic": "bicubic", "trilinear": "trilinear"}
ROOT = Path(__file__).resolve().parent.parent.parent


def parse_params(text):
    """'align_corners=0;size=4,9' -> {'align_corners': '0', 'size': '4,9'}"""
    return dict(item.partition("=")[::2] for item in text.split(";") if "=" in item)


def make_peer(kernel, point, params, gen):
    """(peer name, callable, float64 reference, input) of the mechbench kernel at point, or None."""
    batch, channels, height, width, scale = point
    op = kernel.split(".")[-1]
    if op in ("pixel_shuffle", "pixel_unshuffle"):
        r = int(params.get("upscale_factor" if op == "pixel_shuffle" else "downscale_factor", 0)) or scale
        x = torch.randn(batch, channels, height, width, generator=gen)
        layer = torch.nn.PixelShuffle(r) if op == "pixel_shuffle" else torch.nn.PixelUnshuffle(r)
        return f"peer.torch.{op}", (lambda: layer(x)), (lambda: layer(x.double())), x
    if op not in MODES:
        return None
    spatial = {"linear": [width], "trilinear": [int(params.get("depth", 0)) or height, height, width]}.get(
        op, [height, width])
    x = torch.randn(batch, channels, *spatial, generator=gen)
    kw = {"mode": MODES[op]}
    size = params.get("size", "none")
    if size != "none":
        values = [int(v) for v in size.split(",")]
        kw["size"] = values[0] if len(values) == 1 else tuple(values)
    else:
        kw["scale_factor"] = float(params.get("scale_factor", 0)) or float(scale)
        kw["recompute_scale_factor"] = params.get("recompute_scale_factor", "0") == "1"
    if "align_corners" in params:
        kw["align_corners"] = params["align_corners"] == "1"
    return (f"peer.torch.upsample.{op}", (lambda: F.interpolate(x, **kw)), (lambda: F.interpolate(x.double(), **kw)),
            x)


def interleave(args):
    """K alternating timings of mechbench's kernels and torch at (2, 3, 512, 512) x2 (pixel shuffle: (2, 12, ...))."""
    gen = torch.Generator().manual_seed(1)
    for kernel in args.interleave_kernels.split(","):
        channels = 12 if "shuffle" in kernel else 3
        point, params = (2, channels, 512, 512, 2), {"align_corners": "0"} if kernel.split(".")[-1] in (
            "bilinear", "bicubic") else {}
        _, fn, _, _ = make_peer(kernel, point, params, gen)
        ours, theirs = [], []
        for _ in range(args.interleave):
            proc = subprocess.run([str(ROOT / "mechbench"), "run", kernel, "--batch", "2", "--channels", str(channels),
                                   "--height", "512", "--width", "512", "--scale", "2", "--reps", "5", "--min-time",
                                   "0.05", "--check-rows", "4", "--json"], capture_output=True, text=True, check=True,
                                  env=peerlib.mechbench_env())
            ours.append(float(proc.stdout.split('"time_median":')[1].split(",")[0]))
            with torch.no_grad():
                _, samples = peerlib.time_peer(fn, 5, 0.05)
            theirs.append(float(np.median(samples)))
        ratio = np.array(theirs) / np.array(ours)
        print(f"{kernel}: mechbench {np.median(ours) * 1e3:.3g} ms ({min(ours) * 1e3:.3g}..{max(ours) * 1e3:.3g}), "
              f"torch {np.median(theirs) * 1e3:.3g} ms ({min(theirs) * 1e3:.3g}..{max(theirs) * 1e3:.3g}); "
              f"torch/mechbench per round {' '.join(f'{v:.2f}' for v in ratio)} (median {np.median(ratio):.2f})")


def main():
    ap = peerlib.arguments(__doc__, reps=5, min_time=0.03, results_optional=True)
    ap.add_argument("--interleave", type=int, default=0, help="rounds of the interleaved ratio check (no file)")
    ap.add_argument("--interleave-kernels", default="vision.upsample.bilinear,vision.upsample.bicubic,"
                    "vision.upsample.nearest,vision.pixel_shuffle")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.interleave:
        return interleave(args)
    if not args.results:
        peerlib.fail("torch_vision.py", "give a results file (or --interleave K)")
    settings = peerlib.settings(args.threads)
    f = peerlib.open_results("torch_vision.py", args.results)
    with f:
        p = f["points"][...]
        family = np.char.startswith(p["family"], b"vision")
        rows = p[family & (p["threads"] == args.threads) & np.isin(p["verdict"], [b"pass", b"fail"])
                 & ~np.char.startswith(p["kernel"], b"peer.")]
        points = sorted({(r["kernel"].decode(), r["family"].decode(), tuple(int(r[a]) for a in AXES),
                          r["params"].decode()) for r in rows})
        have = {(r["kernel"].decode(), tuple(int(r[a]) for a in AXES), r["params"].decode(), peerlib.round_of(r))
                for r in p if r["kernel"].startswith(b"peer.")}
        for rnd, (kernel, fam, point, params) in ((rnd, x) for rnd in range(args.rounds) for x in points):
            if (kernel, fam, point, params) == points[0]:
                gen = torch.Generator().manual_seed(int(f.attrs.get("seed", 42)))  # each round: the same inputs
            peer = make_peer(kernel, point, parse_params(params), gen)
            if peer is None:
                continue
            name, fn, reference, x = peer
            if (name, point, params, rnd) in have:
                continue
            peerlib.add_kernels(f, [{"name": name, "family": fam, "mechanism": kernel.split(".")[-1], "exact": 1,
                                     "oracle": "torch float64", "complexity": "O(N C H_out W_out)",
                                     "source": "bench/peers/torch_vision.py", "source_hash": "peer"}])
            with torch.no_grad():
                out = fn()
                nbytes = 4.0 * (x.numel() + out.numel())
                iterations, samples = peerlib.time_peer(fn, args.reps, args.min_time)
                own = peerlib.errors(fn(), reference())
            fields = dict(zip(AXES, point), kernel=name, family=fam, source_hash="peer", params=params,
                          threads=args.threads, flops=0.0, bytes=nbytes, input_bytes=nbytes, started=time.time(),
                          tolerance=1e-6, round=rnd)
            fields.update(peerlib.timing_fields(iterations, samples, 0.0, nbytes), **peerlib.error_fields(own, own),
                          verdict="pass" if own[1] <= 1e-6 else "fail", message=settings)
            peerlib.append_row(f, fields, samples)
            print(f"{name} {dict(zip(AXES, point))} {params}: {fields['time_median'] * 1e3:.4g} ms, "
                  f"{fields['gbps']:.2f} GB/s", file=sys.stderr)


if __name__ == "__main__":
    main()
