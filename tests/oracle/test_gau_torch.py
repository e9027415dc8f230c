"""GAU family kernels against PyTorch (Debian python3-torch 1.13) through `mechbench eval`.

The user's view: x (batch, n, d) and the block's weights as PyTorch-style (in, out) matrices, float32, in HDF5;
mechbench runs one block and writes `out` (batch, n, d). PyTorch defines the semantics below (float64):
  glu_ffn  (silu(x w_u) * silu(x w_v)) w_o
  gau      Q/K = silu(x w_z) * gamma[0|1] + beta[0|1]; A = relu(QK^T/sqrt(s))^2/n (su) | relu(QK^T/n)^2 (paper),
           causal: tril mask, still / n; out = (silu(x w_u) * (A silu(x w_v))) w_o
  flash    the paper's pseudo-code (Hua et al. 2022, Code 8): pad to a multiple of c with zero tokens, per chunk
           local relu^2 attention (/c), global linear attention (/n; causal: exclusive cumsum over chunks)
  mha_ffn  multi-head softmax attention (heads = d/64) then gelu(. w_1) w_2, no residual, no norm
"""
import math

import h5py
import pytest
import torch
import torch.nn.functional as F

from conftest import mechbench

NAMES = ["x", "w_u", "w_v", "w_z", "w_o", "gamma", "beta", "w_q", "w_k", "w_v_attn", "w_o_attn", "w_1", "w_2"]


def make_inputs(batch, n, d, s, e, seed):
    g = torch.Generator().manual_seed(seed)

    def normal(*shape, std=1.0):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    return {
        "x": normal(batch, n, d),
        "w_u": normal(d, e, std=d ** -0.5), "w_v": normal(d, e, std=d ** -0.5), "w_z": normal(d, s, std=d ** -0.5),
        "w_o": normal(e, d, std=e ** -0.5), "gamma": normal(4, s), "beta": normal(4, s, std=0.1),
        "w_q": normal(d, d, std=d ** -0.5), "w_k": normal(d, d, std=d ** -0.5), "w_v_attn": normal(d, d, std=d ** -0.5),
        "w_o_attn": normal(d, d, std=d ** -0.5), "w_1": normal(d, 4 * d, std=d ** -0.5),
        "w_2": normal(4 * d, d, std=(4 * d) ** -0.5),
    }


def run_eval(tmp_path, kernel, t, *params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name in NAMES:
            f[name] = t[name].numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f["out"][...])


def quad(qk, norm, s, length):
    if norm == "paper":
        return F.relu(qk / length) ** 2
    return F.relu(qk / math.sqrt(s)) ** 2 / length


def torch_glu(t):
    x = t["x"]
    return (F.silu(x @ t["w_u"]) * F.silu(x @ t["w_v"])) @ t["w_o"]


def torch_gau(t, causal, norm):
    x, n, s = t["x"], t["x"].shape[1], t["w_z"].shape[1]
    u, v, z = F.silu(x @ t["w_u"]), F.silu(x @ t["w_v"]), F.silu(x @ t["w_z"])
    q, k = z * t["gamma"][0] + t["beta"][0], z * t["gamma"][1] + t["beta"][1]
    a = quad(q @ k.transpose(1, 2), norm, s, n)
    if causal:
        a = a * torch.ones(n, n, dtype=a.dtype).tril()
    return (u * (a @ v)) @ t["w_o"]


def torch_flash(t, causal, norm, c):
    x = t["x"]
    b, n, d = x.shape
    s = t["w_z"].shape[1]
    pad = (-n) % c
    xp = F.pad(x, (0, 0, 0, pad))  # padded tokens: x = 0, so v = silu(0) = 0
    u, v, z = F.silu(xp @ t["w_u"]), F.silu(xp @ t["w_v"]), F.silu(xp @ t["w_z"])
    qq, kq, ql, kl = (z * t["gamma"][r] + t["beta"][r] for r in range(4))
    g = (n + pad) // c
    seg = lambda y: y.reshape(b, g, c, y.shape[-1])
    qq, kq, ql, kl, vg = map(seg, (qq, kq, ql, kl, v))
    a = quad(torch.einsum("bgns,bgms->bgnm", qq, kq), norm, s, c)
    if causal:
        a = a * torch.ones(c, c, dtype=a.dtype).tril()
    local = torch.einsum("bgnm,bgme->bgne", a, vg)
    kv = torch.einsum("bgcs,bgce->bgse", kl, vg)
    if causal:
        kv = torch.cumsum(kv, dim=1) - kv  # exclusive prefix over chunks
        glob = torch.einsum("bgcs,bgse->bgce", ql, kv) / n
    else:
        glob = torch.einsum("bgcs,bse->bgce", ql, kv.sum(dim=1)) / n
    o = (u * (local + glob).reshape(b, n + pad, -1)) @ t["w_o"]
    return o[:, :n]


def torch_mha_ffn(t, causal):
    x = t["x"]
    b, n, d = x.shape
    h = d // 64
    split = lambda y: y.reshape(b, n, h, 64).transpose(1, 2)
    q, k, v = split(x @ t["w_q"]), split(x @ t["w_k"]), split(x @ t["w_v_attn"])
    scores = q @ k.transpose(-1, -2) / 8.0
    if causal:
        scores = scores.masked_fill(torch.ones(n, n, dtype=torch.bool).triu(1), float("-inf"))
    y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, n, d) @ t["w_o_attn"]
    return F.gelu(y @ t["w_1"]) @ t["w_2"]


def f64(t):
    return {k: v.double() for k, v in t.items()}


SHAPES = [(1, 1, 64, 16, 128), (2, 7, 64, 16, 96), (1, 257, 128, 32, 256), (1, 300, 64, 128, 128)]


@pytest.mark.parametrize("shape", SHAPES)
def test_glu_ffn_matches_torch(tmp_path, shape):
    t = make_inputs(*shape, seed=sum(shape))
    out = run_eval(tmp_path, "gau.glu_ffn", t)
    torch.testing.assert_close(out.double(), torch_glu(f64(t)), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("norm", ["su", "paper"])
@pytest.mark.parametrize("kernel", ["gau.gau", "gau.flash_quad"])
def test_gau_matches_torch(tmp_path, shape, causal, norm, kernel):
    t = make_inputs(*shape, seed=2 * sum(shape) + causal)
    out = run_eval(tmp_path, kernel, t, "--param", f"causal={causal}", "--param", f"norm={norm}")
    want = torch_gau(f64(t), causal, norm)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("c", [1, 5, 64, 100, 512])
def test_flash_matches_the_padded_pseudocode(tmp_path, shape, causal, c):
    t = make_inputs(*shape, seed=3 * sum(shape) + c)
    out = run_eval(tmp_path, "gau.flash", t, "--param", f"causal={causal}", "--param", f"block={c}")
    want = torch_flash(f64(t), causal, "su", c)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


def test_flash_paper_norm(tmp_path):
    t = make_inputs(1, 200, 64, 32, 128, seed=5)
    out = run_eval(tmp_path, "gau.flash", t, "--param", "causal=1", "--param", "block=64", "--param", "norm=paper")
    want = torch_flash(f64(t), 1, "paper", 64)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5 * want.abs().max().item())


@pytest.mark.parametrize("shape", [(1, 1, 64, 16, 128), (2, 33, 128, 16, 256), (1, 257, 64, 128, 128)])
@pytest.mark.parametrize("causal", [0, 1])
def test_mha_ffn_matches_torch(tmp_path, shape, causal):
    t = make_inputs(*shape, seed=7 * sum(shape) + causal)
    out = run_eval(tmp_path, "gau.mha_ffn", t, "--param", f"causal={causal}")
    want = torch_mha_ffn(f64(t), causal)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5 * want.abs().max().item())
    # and PyTorch's own float32 computation
    torch.testing.assert_close(out, torch_mha_ffn(t, causal), rtol=1e-3, atol=1e-4)


def test_eval_rejects_inconsistent_weights(tmp_path):
    t = make_inputs(1, 8, 64, 16, 128, seed=1)
    t["w_o"] = torch.zeros(100, 64)
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name in NAMES:
            f[name] = t[name].numpy()
    proc = mechbench("eval", "gau.glu_ffn", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and "w_o" in proc.stderr
    assert not dst.exists()
