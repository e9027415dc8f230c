"""Group "linear" against PyTorch through `mechbench eval`: causal linear attention (RNN, chunked, decode),
1 + cos linear attention, and Efficient Attention (Shen et al. 2018) with softmax and scaling normalisation."""
import h5py
import pytest
import torch

from test_attention_torch import inputs, run_eval

SHAPES = [(1, 1, 1, 16), (2, 3, 7, 16), (1, 2, 129, 64), (2, 1, 129, 80), (1, 3, 64, 5)]
EPS = 1e-6


def elu1(x):
    return torch.nn.functional.elu(x) + 1


def cos_features(x):
    return torch.cat([torch.ones_like(x[..., :1]), torch.nn.functional.normalize(x, dim=-1, eps=1e-30)], dim=-1)


def torch_linear(q, k, v, phi, causal):
    sim = phi(q) @ phi(k).transpose(-1, -2)
    if causal:
        sim = sim.tril()
    return (sim @ v) / (sim.sum(dim=-1, keepdim=True) + EPS)


def read_out(proc, dst):
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f["out"][...])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kernel,block", [("attention.linear.elu_rnn", 0), ("attention.linear.elu_chunked", 0),
                                          ("attention.linear.elu_chunked", 7), ("attention.linear.elu_chunked", 100)])
def test_causal_linear_elu_matches_torch(tmp_path, shape, kernel, block):
    q, k, v = inputs(shape, seed=5 * sum(shape) + block)
    params = ["--param", "causal=1"] + (["--param", f"block={block}"] if block else [])
    out = read_out(*run_eval(tmp_path, kernel, q, k, v, *params))
    want = torch_linear(q.double(), k.double(), v.double(), elu1, causal=True)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_linear_elu_decode_last_row_matches_torch(tmp_path, shape):
    q, k, v = inputs(shape, seed=7 * sum(shape))
    out = read_out(*run_eval(tmp_path, "attention.linear.elu_decode", q, k, v, "--param", "causal=1"))
    want = torch_linear(q.double(), k.double(), v.double(), elu1, causal=True)
    torch.testing.assert_close(out[..., -1, :].double(), want[..., -1, :], rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
def test_linear_cos_matches_torch(tmp_path, shape, causal):
    q, k, v = inputs(shape, seed=11 * sum(shape) + causal)
    out = read_out(*run_eval(tmp_path, "attention.linear.cos", q, k, v, "--param", f"causal={causal}"))
    want = torch_linear(q.double(), k.double(), v.double(), cos_features, causal=bool(causal))
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)
    # the "Taylor" form 1 + q.k with l2-normalised q, k is the same function
    qn, kn = (torch.nn.functional.normalize(t.double(), dim=-1) for t in (q, k))
    sim = 1 + qn @ kn.transpose(-1, -2)
    if causal:
        sim = sim.tril()
    torch.testing.assert_close(out.double(), (sim @ v.double()) / (sim.sum(-1, keepdim=True) + EPS),
                               rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_efficient_matches_torch(tmp_path, shape):
    q, k, v = inputs(shape, seed=13 * sum(shape))
    out = read_out(*run_eval(tmp_path, "attention.efficient", q, k, v))
    qd, kd, vd = q.double(), k.double(), v.double()
    want = torch.softmax(qd, dim=-1) @ (torch.softmax(kd, dim=-2).transpose(-1, -2) @ vd)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_efficient_scaling_equals_dot_product_attention_with_scaling(tmp_path, shape):
    q, k, v = inputs(shape, seed=17 * sum(shape))
    out = read_out(*run_eval(tmp_path, "attention.efficient_scaling", q, k, v))
    n = q.shape[-2]
    qd, kd, vd = q.double(), k.double(), v.double()
    dot_product = ((qd @ kd.transpose(-1, -2)) / n) @ vd  # rho(Y) = Y / n, no softmax
    torch.testing.assert_close(out.double(), dot_product, rtol=1e-4, atol=2e-5)
    efficient = (qd / n ** 0.5) @ ((kd / n ** 0.5).transpose(-1, -2) @ vd)
    torch.testing.assert_close(out.double(), efficient, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kernel,causal,word", [("attention.linear.elu_rnn", 0, "causal only"),
                                                ("attention.linear.elu_chunked", 0, "causal only"),
                                                ("attention.efficient", 1, "non-causal only")])
def test_refusals(tmp_path, kernel, causal, word):
    q, k, v = inputs((1, 1, 8, 4), seed=1)
    proc, dst = run_eval(tmp_path, kernel, q, k, v, "--param", f"causal={causal}")
    assert proc.returncode != 0 and word in proc.stderr
    assert not dst.exists()
