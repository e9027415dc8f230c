"""vision families against PyTorch: F.interpolate (every mode, size or scale_factor, align_corners both ways,
recompute_scale_factor both ways, non-integer and downscaling factors, odd sizes, H = 1), nn.PixelShuffle and
nn.PixelUnshuffle, through `mechbench eval` with PyTorch's names (input; --param scale_factor, size, align_corners,
recompute_scale_factor, upscale_factor, downscale_factor). Nearest modes and the shuffles must be equal bit for bit;
the linear modes agree to float rounding (max abs <= 1e-6 relative to max |input|; on the AVX-512/AVX2 copies they
are bit-exact too: the coordinate maps and the fused sums follow torch's x86 build)."""
import os

import h5py
import pytest
import torch
import torch.nn.functional as F

from conftest import mechbench

MODES = {  # kernel suffix -> (F.interpolate mode, spatial dims, takes align_corners)
    "nearest": ("nearest", 2, False), "nearest_exact": ("nearest-exact", 2, False), "linear": ("linear", 1, True),
    "bilinear": ("bilinear", 2, True), "bicubic": ("bicubic", 2, True), "trilinear": ("trilinear", 3, True),
}
SPATIAL = {1: [(29,), (1,), (7,)], 2: [(13, 17), (1, 9), (8, 8)], 3: [(5, 7, 9), (1, 3, 4)]}
FACTORS = [2, 3, 1.5, 2.3, 0.7]


def run_eval(tmp_path, kernel, x, params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        f["input"] = x.numpy()
    args = [a for k, v in params.items() for a in ("--param", f"{k}={v}")]
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    return proc, (torch.from_numpy(h5py.File(dst, "r")["out"][...]) if proc.returncode == 0 else None)


def compare(got, want, exact, what):
    assert got is not None and got.shape == want.shape, what
    if exact:
        assert torch.equal(got, want), f"{what}: {(got != want).sum().item()} values differ"
    else:
        err = (got.double() - want.double()).abs().max().item()
        assert err <= 1e-6 * max(1.0, want.abs().max().item()), f"{what}: max abs {err:.3g}"


def cases():
    for name, (mode, dims, has_align) in MODES.items():
        for shape in SPATIAL[dims]:
            for factor in FACTORS:
                for recompute in (False, True):
                    for align in ((False, True) if has_align else (None,)):
                        yield name, shape, factor, recompute, align


@pytest.mark.parametrize("name,shape,factor,recompute,align", list(cases()))
def test_interpolate_scale_factor_matches_torch(tmp_path, name, shape, factor, recompute, align):
    mode, dims, _ = MODES[name]
    if any(int(s * factor) < 1 for s in shape):
        pytest.skip("output size 0 (refused by both)")
    g = torch.Generator().manual_seed(hash((name, shape, factor)) % 1000)
    x = torch.randn(2, 3, *shape, generator=g)
    kw = {"scale_factor": factor, "recompute_scale_factor": recompute}
    params = {"scale_factor": factor, "recompute_scale_factor": int(recompute)}
    if align is not None:
        kw["align_corners"], params["align_corners"] = align, int(align)
    want = F.interpolate(x, mode=mode, **kw)
    proc, got = run_eval(tmp_path, f"vision.upsample.{name}", x, params)
    assert proc.returncode == 0, proc.stderr
    compare(got, want, exact=name.startswith("nearest"), what=f"{name} {shape} {kw}")


@pytest.mark.parametrize("name", list(MODES))
@pytest.mark.parametrize("align", [False, True])
def test_interpolate_size_matches_torch(tmp_path, name, align):
    mode, dims, has_align = MODES[name]
    if align and not has_align:
        pytest.skip("nearest modes take no align_corners")
    shape = SPATIAL[dims][0]
    x = torch.randn(1, 2, *shape, generator=torch.Generator().manual_seed(5))
    for size in ([11] * dims, [3 + 4 * i for i in range(dims)], [1] * dims):
        kw = {"size": size[0] if len(set(size)) == 1 else tuple(size)}
        params = {"size": ",".join(map(str, size)) if len(set(size)) > 1 else size[0]}
        if has_align:
            kw["align_corners"], params["align_corners"] = align, int(align)
        want = F.interpolate(x, mode=mode, **kw)
        proc, got = run_eval(tmp_path, f"vision.upsample.{name}", x, params)
        assert proc.returncode == 0, proc.stderr
        compare(got, want, exact=name.startswith("nearest"), what=f"{name} {kw}")


def test_upsampling_bilinear2d_module_matches_torch(tmp_path):
    x = torch.randn(2, 3, 9, 14, generator=torch.Generator().manual_seed(3))
    for factor in (2, 1.5):
        want = torch.nn.UpsamplingBilinear2d(scale_factor=factor)(x)
        proc, got = run_eval(tmp_path, "vision.upsample.upsampling_bilinear2d", x, {"scale_factor": factor})
        assert proc.returncode == 0, proc.stderr
        compare(got, want, exact=False, what=f"UpsamplingBilinear2d x{factor}")
        # it is not the align_corners=False map: the comparison has teeth
        assert (F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False) - want).abs().max() > 1e-2


@pytest.mark.parametrize("n,c,h,w,r", [(1, 4, 1, 1, 2), (2, 9, 5, 7, 3), (1, 32, 6, 10, 4), (3, 8, 3, 33, 2)])
def test_pixel_shuffle_and_unshuffle_match_torch(tmp_path, n, c, h, w, r):
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(c + h))
    want = torch.nn.PixelShuffle(r)(x)
    proc, got = run_eval(tmp_path, "vision.pixel_shuffle", x, {"upscale_factor": r})
    assert proc.returncode == 0, proc.stderr
    compare(got, want, exact=True, what="PixelShuffle")
    proc, back = run_eval(tmp_path, "vision.pixel_unshuffle", want, {"downscale_factor": r})
    assert proc.returncode == 0, proc.stderr
    compare(back, torch.nn.PixelUnshuffle(r)(want), exact=True, what="PixelUnshuffle")
    assert torch.equal(back, x)


@pytest.mark.parametrize("kernel,shape,params,needle", [
    ("vision.pixel_shuffle", (1, 6, 4, 4), {"upscale_factor": 2}, "not divisible by upscale_factor^2"),
    ("vision.pixel_unshuffle", (1, 3, 5, 4), {"downscale_factor": 2}, "not both divisible"),
    ("vision.upsample.bilinear", (1, 3, 4, 4), {"size": 0}, "size=0"),
    ("vision.upsample.bilinear", (1, 3, 4, 4), {"size": 8, "scale_factor": 2}, "only one of size and scale_factor"),
    ("vision.upsample.bilinear", (1, 3, 4, 4), {}, "give F.interpolate's size or scale_factor"),
    ("vision.upsample.nearest", (1, 3, 4, 4), {"size": 8, "recompute_scale_factor": 1}, "not meaningful"),
    ("vision.upsample.bilinear", (1, 3, 4), {"scale_factor": 2}, "expects (N, C, H,W)"),
    ("vision.upsample.nearest", (1, 3, 4, 4), {"scale_factor": 2, "align_corners": 1}, "align_corners"),
])
def test_bad_inputs_are_refused_with_one_line(tmp_path, kernel, shape, params, needle):
    proc, got = run_eval(tmp_path, kernel, torch.randn(*shape), params)
    assert proc.returncode != 0 and got is None
    assert needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_wrong_align_corners_is_caught(tmp_path):
    x = torch.randn(1, 2, 7, 9, generator=torch.Generator().manual_seed(1))
    want = F.interpolate(x, scale_factor=2, mode="bicubic", align_corners=True)
    _, got = run_eval(tmp_path, "vision.upsample.bicubic", x, {"scale_factor": 2, "align_corners": 0})
    assert (got - want).abs().max() > 1e-3
