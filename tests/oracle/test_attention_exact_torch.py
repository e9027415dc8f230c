"""The exact softmax kernels (attention.softmax.flash, attention.softmax.decode) against PyTorch through
`mechbench eval`: flash must equal softmax(q k^T / sqrt(d)) v (PyTorch's scaled-dot-product attention) at any key block size; decode
must equal the last query row of it (the new token attending to the whole KV cache).
"""
import math

import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 1, 16), (2, 3, 7, 16), (1, 2, 129, 64), (2, 1, 129, 80), (1, 3, 64, 5), (1, 1, 300, 64)]


def inputs(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float32) for _ in range(3)]


def run_eval(tmp_path, kernel, q, k, v, *params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in (("q", q), ("k", k), ("v", v)):
            f[name] = t.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f["out"][...])


def sdpa(q, k, v, causal):
    """softmax(q k^T / sqrt(d), causal mask aligned to the last key) v, as scaled_dot_product_attention (absent
    from Debian's torch)."""
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        n_q, n_k = q.shape[-2], k.shape[-2]
        mask = torch.ones(n_q, n_k, dtype=torch.bool).triu(1 + n_k - n_q)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("block", [0, 7, 64])
def test_flash_matches_torch_sdpa(tmp_path, shape, causal, block):
    q, k, v = inputs(shape, seed=sum(shape) + 10 * causal + block)
    out = run_eval(tmp_path, "attention.softmax.flash", q, k, v, "--param", f"causal={causal}", "--param",
                   f"block={block}")
    assert out.shape == q.shape and out.dtype == torch.float32
    want = sdpa(q.double(), k.double(), v.double(), causal)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES + [(1, 2, 3000, 64)])
@pytest.mark.parametrize("causal", [0, 1])
def test_decode_matches_torch_last_row(tmp_path, shape, causal):
    q, k, v = inputs(shape, seed=2 * sum(shape) + causal)
    out = run_eval(tmp_path, "attention.softmax.decode", q, k, v, "--param", f"causal={causal}")
    assert out.shape == q.shape
    # the new token q_{n-1} attends to all n cached keys, causal or not
    want = sdpa(q[:, :, -1:].double(), k.double(), v.double(), False)
    torch.testing.assert_close(out[:, :, -1:].double(), want, rtol=1e-4, atol=2e-5)
    torch.testing.assert_close(out[:, :, -1:].double(), sdpa(q.double(), k.double(), v.double(), causal)[:, :, -1:],
                               rtol=1e-4, atol=2e-5)
