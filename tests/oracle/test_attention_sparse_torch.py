"""Sparse attention kernels against PyTorch masked softmax attention through `mechbench eval`, at odd shapes.

Each pattern is written as a boolean mask in torch; the kernel must equal softmax(masked_fill(q k^T / sqrt(d), ~mask,
-inf)) v. Top-k keeps the k largest scores of each row (torch.topk in double; random inputs have no ties).
"""
import math

import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 1, 16), (2, 3, 7, 16), (1, 2, 129, 64), (2, 1, 130, 80), (1, 3, 64, 5)]


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


def pattern_mask(kind, n, causal, l, c=None):
    i = torch.arange(n).view(n, 1)
    j = torch.arange(n).view(1, n)
    dist = (i - j).abs()
    if kind == "local":
        mask = dist <= l
    elif kind == "atrous":
        mask = dist % l == 0
    elif kind == "strided":
        mask = (dist < l) | (dist % l == 0)
    elif kind == "fixed":
        c = max(1, l // 8) if c is None else min(c, l)
        mask = (j // l == i // l) | (j % l >= l - c)
    else:
        raise ValueError(kind)
    if causal:
        mask = mask & (j <= i)
    return mask


def masked_attention(q, k, v, mask):
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


def default_rank(kind, n):
    return {"local": 64, "atrous": 8, "strided": math.isqrt(n - 1) + 1 if n > 1 else 1,
            "fixed": math.isqrt(n - 1) + 1 if n > 1 else 1}[kind]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("kind,rank", [("local", 0), ("local", 3), ("local", 40), ("atrous", 0), ("atrous", 3),
                                       ("atrous", 1), ("strided", 0), ("strided", 5), ("strided", 11),
                                       ("fixed", 0), ("fixed", 4), ("fixed", 16)])
def test_pattern_matches_torch_masked_softmax(tmp_path, shape, causal, kind, rank):
    q, k, v = inputs(shape, seed=sum(shape) + 7 * causal + rank)
    out = run_eval(tmp_path, f"attention.sparse.{kind}", q, k, v, "--param", f"causal={causal}", "--param",
                   f"rank={rank}")
    n = shape[2]
    mask = pattern_mask(kind, n, causal, rank or default_rank(kind, n))
    want = masked_attention(q.double(), k.double(), v.double(), mask)
    assert out.shape == q.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("c", [1, 3, 20])
def test_fixed_summary_width_matches_torch(tmp_path, causal, c):
    q, k, v = inputs((1, 2, 100, 32), seed=c + 10 * causal)
    out = run_eval(tmp_path, "attention.sparse.fixed", q, k, v, "--param", f"causal={causal}", "--param", "rank=10",
                   "--param", f"c={c}")
    want = masked_attention(q.double(), k.double(), v.double(), pattern_mask("fixed", 100, causal, 10, c))
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


def torch_topk_attention(q, k, v, keep, causal):
    n = q.shape[-2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    valid = torch.ones(n, n, dtype=torch.bool)
    if causal:
        valid = valid.tril()
    scores = scores.masked_fill(~valid, float("-inf"))
    idx = scores.topk(min(keep, n), dim=-1).indices
    mask = torch.zeros_like(scores, dtype=torch.bool).scatter(-1, idx, True) & valid
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1) @ v


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("keep", [0, 1, 5, 200])
def test_topk_matches_torch(tmp_path, shape, causal, keep):
    q, k, v = inputs(shape, seed=3 * sum(shape) + causal + keep)
    out = run_eval(tmp_path, "attention.sparse.topk", q, k, v, "--param", f"causal={causal}", "--param",
                   f"rank={keep}")
    want = torch_topk_attention(q.double(), k.double(), v.double(), keep or 32, causal)
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("causal", [0, 1])
def test_local_with_full_window_is_dense_softmax_in_float32(tmp_path, causal):
    q, k, v = inputs((2, 2, 77, 32), seed=5 + causal)
    out = run_eval(tmp_path, "attention.sparse.local", q, k, v, "--param", f"causal={causal}", "--param", "rank=77")
    want = masked_attention(q, k, v, torch.ones(77, 77, dtype=torch.bool).tril() if causal else
                            torch.ones(77, 77, dtype=torch.bool))
    torch.testing.assert_close(out, want, rtol=1e-4, atol=2e-5)


def test_fixed_rejects_a_bad_summary_width(tmp_path):
    q, k, v = inputs((1, 1, 8, 4), seed=1)
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in (("q", q), ("k", k), ("v", v)):
            f[name] = t.numpy()
    proc = mechbench("eval", "attention.sparse.fixed", "--in", src, "--out", dst, "--param", "c=-1", check=False)
    assert proc.returncode == 2 and "c=-1" in proc.stderr
    assert not dst.exists()


# ---------------------------------------------------------------------------------------------- atrous and strided
# Beyond the grid above: n = 65 and l around n (l = n - 1, n, > n: atrous keeps only j = i, strided is dense), the
# defaults at n = 65 (atrous 8, strided ceil(sqrt(65)) = 9) and n = 601 (strided 25), and residue classes longer than
# one 64-row panel (n / l > 64), which the grid above never reaches. Both engines: per-row gathered products
# (strided l < 8, or fewer than 8 rows per class) and the panel engine (atrous: >= 8 rows per class; strided: band
# pass with (max, sum) statistics merged with the residue pass).
DILATED_CASES = [
    ((1, 1, 1, 8), 0),
    ((2, 2, 7, 16), 2),
    ((1, 3, 65, 32), 0),
    ((2, 2, 65, 24), 64),
    ((1, 2, 65, 8), 65),
    ((1, 1, 65, 8), 200),
    ((2, 1, 130, 33), 7),
    ((1, 2, 130, 64), 13),
    ((1, 1, 601, 16), 0),
    ((1, 1, 701, 16), 9),
    ((1, 1, 1000, 8), 2),
]


def sparse_eval(tmp_path, kind, q, k, v, causal, rank, *extra):
    return run_eval(tmp_path, f"attention.sparse.{kind}", q, k, v, "--param", f"causal={causal}", "--param",
                    f"rank={rank}", *extra)


def sparse_reference(kind, q, k, v, causal, rank):
    mask = pattern_mask(kind, q.shape[2], causal, rank or default_rank(kind, q.shape[2]))
    return masked_attention(q.double(), k.double(), v.double(), mask)


def violation(got, want, rtol=1e-4, atol=2e-5):
    """max |got - want| / (atol + rtol |want|): <= 1 passes assert_close at these tolerances."""
    return ((got.double() - want).abs() / (atol + rtol * want.abs())).max().item()


@pytest.mark.parametrize("kind", ["atrous", "strided"])
@pytest.mark.parametrize("causal", [0, 1])
@pytest.mark.parametrize("shape,rank", DILATED_CASES)
def test_dilated_patterns_match_torch(tmp_path, kind, causal, shape, rank):
    q, k, v = inputs(shape, seed=11 * sum(shape) + 3 * causal + rank)
    out = sparse_eval(tmp_path, kind, q, k, v, causal, rank)
    assert out.shape == q.shape and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), sparse_reference(kind, q, k, v, causal, rank), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind,causal,rank", [("atrous", 0, 1), ("strided", 0, 65), ("strided", 1, 300)])
def test_degenerate_patterns_are_dense_softmax(tmp_path, kind, causal, rank):
    """Atrous with l = 1 and strided with l >= n allow every key: plain (causal) softmax attention, no mask code."""
    q, k, v = inputs((2, 2, 65, 16), seed=rank + causal)
    out = sparse_eval(tmp_path, kind, q, k, v, causal, rank)
    q, k, v = q.double(), k.double(), v.double()
    scores = q @ k.transpose(-1, -2) / 4.0
    if causal:
        scores = scores + torch.full((65, 65), float("-inf"), dtype=torch.float64).triu(1)
    torch.testing.assert_close(out.double(), torch.softmax(scores, dim=-1) @ v, rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", ["atrous", "strided"])
@pytest.mark.parametrize("causal", [0, 1])
def test_dilated_patterns_with_peaked_scores(tmp_path, kind, causal):
    """Scores of standard deviation 30, up to ~+-150 (q scaled by 30): exp overflows in float32 without the max
    shift, and the strided merge of the band's and the residue pass's (max, sum) pairs must rescale correctly."""
    q, k, v = inputs((1, 2, 300, 16), seed=40 + causal)
    q = q * 30
    assert (q @ k.transpose(-1, -2)).abs().max() / 4 > 100
    rank = 12  # panel engine for both: 25 rows per residue class, band of 11
    out = sparse_eval(tmp_path, kind, q, k, v, causal, rank)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), sparse_reference(kind, q, k, v, causal, rank), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", ["atrous", "strided"])
@pytest.mark.parametrize("causal", [0, 1])
def test_dilated_patterns_on_two_threads(tmp_path, kind, causal):
    """threads = 2: the panels and residue classes are shared out dynamically, each thread on its own workspace."""
    q, k, v = inputs((2, 3, 301, 24), seed=50 + causal)
    out = sparse_eval(tmp_path, kind, q, k, v, causal, 0, "--param", "threads=2")
    torch.testing.assert_close(out.double(), sparse_reference(kind, q, k, v, causal, 0), rtol=1e-4, atol=2e-5)


@pytest.mark.parametrize("kind", ["atrous", "strided"])
@pytest.mark.parametrize("causal", [0, 1])
def test_dilated_wrong_masks_are_caught(tmp_path, kind, causal):
    """The comparison has teeth: references with a mask shifted by one key, a dilation or stride off by one,
    (strided) a band one key narrower, or the other causality all differ from the kernel far beyond the tolerance,
    while the right mask passes."""
    n, l = 65, 5
    q, k, v = inputs((1, 2, n, 16), seed=60 + causal)
    out = sparse_eval(tmp_path, kind, q, k, v, causal, l)
    q, k, v = q.double(), k.double(), v.double()
    right = pattern_mask(kind, n, causal, l)
    assert violation(out, masked_attention(q, k, v, right)) <= 1.0
    i, j = torch.arange(n).view(n, 1), torch.arange(n).view(1, n)
    wrong = {
        "shifted by one key": right.roll(1, dims=1) | (i == j),
        "l + 1": pattern_mask(kind, n, causal, l + 1),
        "l - 1": pattern_mask(kind, n, causal, l - 1),
        "other causality": pattern_mask(kind, n, 1 - causal, l),
    }
    if kind == "strided":
        narrow = ((i - j).abs() < l - 1) | ((i - j).abs() % l == 0)
        wrong["band one key narrower"] = narrow & (j <= i) if causal else narrow
    for name, mask in wrong.items():
        assert not torch.equal(mask, right), name
        assert violation(out, masked_attention(q, k, v, mask)) > 10.0, name
