"""Attention kernels against PyTorch (Debian python3-torch) through `mechbench eval`, at odd shapes.

The user's view: tensors q, k, v of shape (batch, heads, n, d), float32, written to HDF5; mechbench runs the kernel
and writes `out`; it must equal PyTorch's matmul-softmax-matmul (and linear attention written in torch).
"""
import math

import h5py
import numpy as np
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 1, 16), (2, 3, 7, 16), (1, 2, 129, 64), (2, 1, 129, 80), (1, 3, 64, 5)]


def torch_softmax_attention(q, k, v, causal):
    d = q.shape[-1]
    scores = q @ k.transpose(-1, -2) / math.sqrt(d)
    if causal:
        n = q.shape[-2]
        mask = torch.ones(n, n, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def torch_linear_attention(q, k, v, eps=1e-6):
    phi_q = torch.nn.functional.elu(q) + 1
    phi_k = torch.nn.functional.elu(k) + 1
    kv = torch.einsum("bhnd,bhne->bhde", phi_k, v)
    z = 1.0 / (torch.einsum("bhnd,bhd->bhn", phi_q, phi_k.sum(dim=2)) + eps)
    return torch.einsum("bhnd,bhde,bhn->bhne", phi_q, kv, z)


def run_eval(tmp_path, kernel, q, k, v, *params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in (("q", q), ("k", k), ("v", v)):
            f[name] = t.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    return proc, dst


def inputs(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float32) for _ in range(3)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
def test_softmax_naive_matches_torch(tmp_path, shape, causal):
    q, k, v = inputs(shape, seed=sum(shape) + causal)
    proc, dst = run_eval(tmp_path, "attention.softmax.naive", q, k, v, "--param", f"causal={causal}")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        out = torch.from_numpy(f["out"][...])
        assert f.attrs["kernel"] in (b"attention.softmax.naive", "attention.softmax.naive")
    assert out.shape == q.shape and out.dtype == torch.float32
    want = torch_softmax_attention(q.double(), k.double(), v.double(), causal)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)
    # and against PyTorch's own float32 computation
    torch.testing.assert_close(out, torch_softmax_attention(q, k, v, causal), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_linear_elu_matches_torch(tmp_path, shape):
    q, k, v = inputs(shape, seed=3 * sum(shape))
    proc, dst = run_eval(tmp_path, "attention.linear.elu", q, k, v)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        out = torch.from_numpy(f["out"][...])
    want = torch_linear_attention(q.double(), k.double(), v.double())
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


def test_softmax_matches_multihead_attention_core(tmp_path):
    """nn.MultiheadAttention with identity projections computes the same per-head attention."""
    batch, heads, n, d = 2, 3, 17, 8
    q, k, v = inputs((batch, heads, n, d), seed=11)
    mha = torch.nn.MultiheadAttention(heads * d, heads, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([torch.eye(heads * d)] * 3))
        mha.out_proj.weight.copy_(torch.eye(heads * d))
    merge = lambda t: t.transpose(1, 2).reshape(batch, n, heads * d)  # noqa: E731
    with torch.no_grad():
        want, _ = mha(merge(q), merge(k), merge(v), need_weights=False)
    proc, dst = run_eval(tmp_path, "attention.softmax.naive", q, k, v)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        out = torch.from_numpy(f["out"][...])
    torch.testing.assert_close(merge(out), want, rtol=1e-4, atol=2e-5)


def test_linear_elu_rejects_causal(tmp_path):
    q, k, v = inputs((1, 1, 8, 4), seed=1)
    proc, dst = run_eval(tmp_path, "attention.linear.elu", q, k, v, "--param", "causal=1")
    assert proc.returncode != 0
    assert "non-causal" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()


def test_eval_rejects_mismatched_shapes(tmp_path):
    q, k, v = inputs((1, 1, 8, 4), seed=1)
    proc, dst = run_eval(tmp_path, "attention.softmax.naive", q, k[:, :, :5], v)
    assert proc.returncode != 0 and "'k'" in proc.stderr
    assert not dst.exists()
