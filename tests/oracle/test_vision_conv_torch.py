"""vision families against PyTorch through `mechbench eval` with PyTorch's names: F.conv_transpose2d (input, weight,
bias; --param stride, padding, output_padding, groups, dilation), F.max_pool2d(return_indices=True) (input ->
out, indices; --ksize = kernel_size), F.max_unpool2d (input, indices; output_size) and conv2d + F.pixel_shuffle
(input, weight, bias; --scale = upscale_factor). Indices travel as float32 holding the int64 values exactly (planes
up to 2^24 elements): mechbench's tensors are float, and its HDF5 reader refuses integer datasets."""
import h5py
import pytest
import torch
import torch.nn.functional as F

from conftest import mechbench


def run_eval(tmp_path, kernel, t, *args, outputs=("out",)):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return [torch.from_numpy(f[name][...]) for name in outputs]


def params(**kw):
    out = []
    for key, value in kw.items():
        out += ["--param", f"{key}={value}"]
    return out


# (batch, C_in, C_out, H, W, k, stride, padding, output_padding, groups, dilation)
CONVT = [(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1), (1, 3, 5, 1, 7, 3, 2, 0, 0, 1, 1), (2, 4, 6, 5, 7, 4, 2, 1, 0, 2, 1),
         (1, 3, 2, 6, 5, 3, 2, 1, 1, 1, 1), (1, 6, 9, 4, 3, 3, 3, 2, 2, 3, 2), (1, 5, 4, 7, 9, 2, 3, 0, 1, 1, 2),
         (1, 2, 3, 5, 5, 3, 1, 3, 0, 1, 1), (3, 4, 4, 9, 4, 5, 2, 2, 1, 4, 1)]


@pytest.mark.parametrize("shape", CONVT)
def test_conv_transpose2d_matches_torch(tmp_path, shape):
    n, cin, cout, h, w, k, s, p, op, g, d = shape
    gen = torch.Generator().manual_seed(sum(shape))
    t = {"input": torch.randn(n, cin, h, w, generator=gen), "weight": torch.randn(cin, cout // g, k, k, generator=gen),
         "bias": torch.randn(cout, generator=gen)}
    want = F.conv_transpose2d(t["input"].double(), t["weight"].double(), t["bias"].double(), stride=s, padding=p,
                              output_padding=op, groups=g, dilation=d)
    for kernel in ("vision.conv_transpose2d.scatter", "vision.conv_transpose2d.zero_insert"):
        (got,) = run_eval(tmp_path, kernel, t, *params(stride=s, padding=p, output_padding=op, groups=g, dilation=d))
        assert got.shape == want.shape, kernel
        torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4, msg=kernel)


def test_conv_transpose2d_wrong_stride_is_caught(tmp_path):
    gen = torch.Generator().manual_seed(1)
    t = {"input": torch.randn(1, 3, 5, 5, generator=gen), "weight": torch.randn(3, 2, 3, 3, generator=gen),
         "bias": torch.randn(2, generator=gen)}
    want = F.conv_transpose2d(t["input"], t["weight"], t["bias"], stride=2, padding=1, output_padding=1)
    (got,) = run_eval(tmp_path, "vision.conv_transpose2d.scatter", t, *params(stride=2, padding=1))
    assert got.shape != want.shape or not torch.allclose(got, want, atol=1e-4)


@pytest.mark.parametrize("bad, needle", [(dict(stride=2, output_padding=2), "output_padding = 2"),
                                         (dict(stride=1, groups=2), "groups = 2")])
def test_conv_transpose2d_bad_params_are_refused(tmp_path, bad, needle):
    t = {"input": torch.randn(1, 3, 4, 4), "weight": torch.randn(3, 2, 3, 3),
         "bias": torch.randn(2 * bad.get("groups", 1))}
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", "vision.conv_transpose2d.scatter", "--in", src, "--out", dst, *params(**bad), check=False)
    assert proc.returncode != 0 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not dst.exists()


# (batch, C, H, W, kernel_size, stride, padding, dilation, ceil_mode)
POOL = [(1, 1, 1, 1, 1, 1, 0, 1, False), (1, 2, 1, 7, 1, 2, 0, 1, False), (2, 3, 7, 9, 3, 2, 1, 1, False),
        (1, 2, 7, 9, 3, 2, 1, 1, True), (1, 1, 11, 10, 3, 3, 1, 2, True), (2, 2, 6, 5, 2, 2, 0, 1, True),
        (1, 3, 9, 9, 4, 1, 2, 2, False)]


@pytest.mark.parametrize("shape", POOL)
def test_max_pool2d_indices_match_torch(tmp_path, shape):
    n, c, h, w, k, s, p, d, ceil = shape
    gen = torch.Generator().manual_seed(sum(shape))
    x = torch.randn(n, c, h, w, generator=gen)
    x[..., ::2, :] = x[..., ::2, :].round()  # ties inside the windows
    if h * w > 4:
        x.view(-1)[3] = float("nan")
        x.view(-1)[-1] = float("-inf")
    want, want_idx = F.max_pool2d(x, k, s, p, d, ceil_mode=ceil, return_indices=True)
    got, idx = run_eval(tmp_path, "vision.max_pool2d.indices", {"input": x}, "--ksize", k,
                        *params(stride=s, padding=p, dilation=d, ceil_mode=int(ceil)), "--allow-nonfinite",
                        outputs=("out", "indices"))  # NaN and -inf on purpose: PyTorch's max rules
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, equal_nan=True, rtol=0, atol=0)
    assert torch.equal(idx.long(), want_idx), (idx.long() - want_idx).abs().max()
    assert torch.equal(idx, idx.round())


@pytest.mark.parametrize("shape, output_size", [((1, 1, 1, 1, 2, 2, 0), None), ((2, 3, 5, 7, 3, 2, 1), None),
                                                ((1, 2, 4, 4, 2, 2, 0), (9, 9)), ((1, 2, 3, 3, 3, 3, 0), (10, 10))])
def test_max_unpool2d_matches_torch(tmp_path, shape, output_size):
    n, c, h, w, k, s, p = shape
    gen = torch.Generator().manual_seed(sum(shape))
    full_h, full_w = (h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k
    pooled, idx = F.max_pool2d(torch.randn(n, c, full_h, full_w, generator=gen), k, s, p, return_indices=True)
    assert pooled.shape[-2:] == (h, w)
    want = F.max_unpool2d(pooled, idx, k, s, p, output_size=output_size)
    extra = params(stride=s, padding=p) + (params(output_size=output_size[0]) if output_size else [])
    # PyTorch's int64 indices as they are (read exactly: every index is below 2^24)
    (got,) = run_eval(tmp_path, "vision.max_unpool2d.scatter", {"input": pooled, "indices": idx}, "--ksize", k,
                      *extra)
    assert got.shape == want.shape
    assert torch.equal(got, want)


def test_max_unpool2d_invalid_index_is_refused(tmp_path):
    pooled, idx = F.max_pool2d(torch.randn(1, 1, 4, 4), 2, return_indices=True)
    idx[0, 0, 1, 1] = 16
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        f["input"], f["indices"] = pooled.numpy(), idx.numpy()
    proc = mechbench("eval", "vision.max_unpool2d.scatter", "--in", src, "--out", dst, "--ksize", 2, check=False)
    assert proc.returncode != 0 and "= 16" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# (batch, C_in, C, H, W, k, r)
SUBPIXEL = [(1, 1, 1, 1, 1, 1, 1), (1, 3, 2, 1, 5, 3, 2), (2, 4, 3, 7, 5, 3, 3), (1, 5, 1, 6, 9, 5, 2)]


@pytest.mark.parametrize("shape", SUBPIXEL)
def test_subpixel_conv_matches_conv_and_pixel_shuffle(tmp_path, shape):
    n, cin, c, h, w, k, r = shape
    gen = torch.Generator().manual_seed(sum(shape))
    t = {"input": torch.randn(n, cin, h, w, generator=gen), "weight": torch.randn(c * r * r, cin, k, k, generator=gen),
         "bias": torch.randn(c * r * r, generator=gen)}
    want = F.pixel_shuffle(F.conv2d(t["input"].double(), t["weight"].double(), t["bias"].double(), padding=k // 2), r)
    (got,) = run_eval(tmp_path, "vision.subpixel_conv.im2col", t, "--scale", r)
    assert got.shape == want.shape
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-4)


def test_subpixel_weight_not_divisible_by_r2_is_refused(tmp_path):
    t = {"input": torch.randn(1, 2, 4, 4), "weight": torch.randn(10, 2, 3, 3), "bias": torch.randn(10)}
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", "vision.subpixel_conv.im2col", "--in", src, "--out", dst, "--scale", 3, check=False)
    assert proc.returncode != 0 and "r^2 = 9" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
