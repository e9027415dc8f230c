"""The "lowrank" attention kernels (attention.reformer_lsh, attention.performer, attention.linformer) against
PyTorch through `mechbench eval`, where PyTorch defines the semantics:
- Reformer LSH with 2 buckets and one chunk covering the sequence is shared-QK softmax attention (keys = the
  l2-normalised queries) with the self-mask ("no attention to self unless it is the only candidate");
- Performer's estimate converges to PyTorch's softmax attention as the number of random features m grows;
- Linformer is row-wise in q and linear in v (the projections only touch k and v along the sequence).
"""
import math

import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 1, 16), (2, 3, 7, 16), (1, 2, 129, 64), (2, 1, 129, 80), (1, 3, 64, 5)]


def inputs(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return [scale * torch.randn(*shape, generator=g, dtype=torch.float32) for _ in range(3)]


def run_eval(tmp_path, kernel, q, k, v, *params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in (("q", q), ("k", k), ("v", v)):
            f[name] = t.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    return proc, dst


def eval_out(tmp_path, kernel, q, k, v, *params):
    proc, dst = run_eval(tmp_path, kernel, q, k, v, *params)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f["out"][...])


def torch_shared_qk_attention(q, v, causal):
    n, d = q.shape[-2], q.shape[-1]
    keys = torch.nn.functional.normalize(q, dim=-1)
    scores = q @ keys.transpose(-1, -2) / math.sqrt(d)
    mask = torch.zeros(n, n, dtype=torch.bool)
    if causal:
        mask |= torch.ones(n, n, dtype=torch.bool).triu(1)
    self_mask = torch.eye(n, dtype=torch.bool)
    alone = (~mask & ~self_mask).sum(-1) == 0  # rows whose only candidate is themselves
    mask |= self_mask & ~alone[:, None]
    return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
def test_reformer_one_chunk_is_shared_qk_softmax(tmp_path, shape, causal):
    q, k, v = inputs(shape, seed=sum(shape) + 7 * causal)
    n = shape[2]
    out = eval_out(tmp_path, "attention.reformer_lsh", q, k, v, "--param", f"causal={causal}", "--param", "rank=2",
                   "--param", f"chunk={max(n, 1)}", "--param", "rounds=1")
    want = torch_shared_qk_attention(q.double(), v.double(), causal)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


def test_reformer_ignores_k(tmp_path):
    q, k, v = inputs((1, 2, 150, 16), seed=3)
    params = ("--param", "rank=4", "--param", "rounds=2", "--param", "chunk=32", "--param", "causal=1")
    a = eval_out(tmp_path, "attention.reformer_lsh", q, k, v, *params)
    b = eval_out(tmp_path, "attention.reformer_lsh", q, torch.zeros_like(k), v, *params)
    assert torch.equal(a, b)


def test_performer_converges_to_softmax_as_m_grows(tmp_path):
    q, k, v = inputs((1, 2, 128, 16), seed=5, scale=0.5)
    want = torch.softmax(q.double() @ k.double().transpose(-1, -2) / 4.0, dim=-1) @ v.double()
    errors = [rel(eval_out(tmp_path, "attention.performer", q, k, v, "--param", f"rank={m}").double(), want)
              for m in (8, 64, 1024)]
    assert errors[0] > errors[1] > errors[2], errors
    assert errors[2] < errors[0] / 4 and errors[2] < 0.15, errors  # MC error ~ 1/sqrt(m)


def test_performer_causal_converges_to_masked_softmax(tmp_path):
    q, k, v = inputs((1, 1, 100, 16), seed=6, scale=0.5)
    scores = q.double() @ k.double().transpose(-1, -2) / 4.0
    scores = scores.masked_fill(torch.ones(100, 100, dtype=torch.bool).triu(1), float("-inf"))
    want = torch.softmax(scores, dim=-1) @ v.double()
    errors = [rel(eval_out(tmp_path, "attention.performer", q, k, v, "--param", f"rank={m}", "--param",
                           "causal=1").double(), want) for m in (16, 2048)]
    assert errors[1] < errors[0] / 4 and errors[1] < 0.15, errors


def test_linformer_is_row_wise_in_q_and_linear_in_v(tmp_path):
    q, k, v = inputs((2, 2, 97, 16), seed=8)
    base = eval_out(tmp_path, "attention.linformer", q, k, v, "--param", "rank=32")
    perm = torch.randperm(97, generator=torch.Generator().manual_seed(1))
    permuted = eval_out(tmp_path, "attention.linformer", q[:, :, perm], k, v, "--param", "rank=32")
    torch.testing.assert_close(permuted, base[:, :, perm], rtol=1e-5, atol=1e-6)
    doubled = eval_out(tmp_path, "attention.linformer", q, k, 2 * v, "--param", "rank=32")
    torch.testing.assert_close(doubled, 2 * base, rtol=1e-5, atol=1e-6)


def test_linformer_rejects_causal(tmp_path):
    q, k, v = inputs((1, 1, 8, 4), seed=1)
    proc, dst = run_eval(tmp_path, "attention.linformer", q, k, v, "--param", "causal=1")
    assert proc.returncode != 0
    assert "non-causal" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()
