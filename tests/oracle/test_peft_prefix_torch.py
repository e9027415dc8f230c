"""peft.prefix against PyTorch: Prefix-Tuning's attention written with torch.cat on the keys and values and an
explicit mask (the causal mask on the real tokens only; every token sees every prefix slot), through `mechbench eval`
with the attention family's names q, k, v (batch, heads, n, d) plus prefix_key, prefix_value (heads, L_p, d)."""
import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 1, 64, 1), (2, 2, 7, 17, 10), (1, 2, 257, 64, 33), (2, 3, 65, 32, 0)]


def make_inputs(batch, heads, n, d, lp, seed):
    g = torch.Generator().manual_seed(seed)
    t = {name: torch.randn(batch, heads, n, d, generator=g) for name in ("q", "k", "v")}
    t["prefix_key"] = torch.randn(heads, lp, d, generator=g)
    t["prefix_value"] = torch.randn(heads, lp, d, generator=g)
    return t


def torch_prefix(t, causal):
    q, k, v = (t[name].double() for name in ("q", "k", "v"))
    batch, heads, n, d = q.shape
    lp = t["prefix_key"].shape[1]
    keys = torch.cat([t["prefix_key"].double().expand(batch, heads, lp, d), k], dim=2)
    values = torch.cat([t["prefix_value"].double().expand(batch, heads, lp, d), v], dim=2)
    scores = q @ keys.transpose(-1, -2) / d ** 0.5
    if causal:  # token i sees every prefix slot and the real tokens j <= i
        real = torch.ones(n, n, dtype=torch.bool).triu(1)
        mask = torch.cat([torch.zeros(n, lp, dtype=torch.bool), real], dim=1)
        scores = scores.masked_fill(mask, float("-inf"))
    return torch.softmax(scores, dim=-1) @ values


def run_eval(tmp_path, t, *args):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", "peft.prefix", "--in", src, "--out", dst, *args, check=False)
    return proc, dst


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("causal", [0, 1])
def test_prefix_matches_torch(tmp_path, shape, causal):
    t = make_inputs(*shape, seed=sum(shape) + causal)
    proc, dst = run_eval(tmp_path, t, "--causal", str(causal))
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        out = torch.from_numpy(f["out"][...]).double()
    want = torch_prefix(t, causal)
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)
    if shape[4] > 0:  # the comparison has teeth: the prefix changes the output, and so does the mask
        no_prefix = dict(t, prefix_key=t["prefix_key"][:, :0], prefix_value=t["prefix_value"][:, :0])
        assert (torch_prefix(no_prefix, causal) - want).abs().max() > 1e-3
        if shape[2] > 1:
            assert (torch_prefix(t, 1 - causal) - want).abs().max() > 1e-3


def test_prefix_masked_like_the_real_keys_is_caught(tmp_path):
    """A kernel that applied the causal mask to the prefix too would fail this comparison."""
    t = make_inputs(1, 2, 40, 32, 10, seed=5)
    proc, dst = run_eval(tmp_path, t, "--causal", "1")
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        out = torch.from_numpy(f["out"][...]).double()
    q, k, v = (t[name].double() for name in ("q", "k", "v"))
    keys = torch.cat([t["prefix_key"].double().expand(1, 2, 10, 32), k], dim=2)
    values = torch.cat([t["prefix_value"].double().expand(1, 2, 10, 32), v], dim=2)
    scores = q @ keys.transpose(-1, -2) / 32 ** 0.5
    wrong_mask = torch.ones(40, 50, dtype=torch.bool).triu(1)  # position i sees columns 0..i of [prefix; keys]
    wrong = torch.softmax(scores.masked_fill(wrong_mask, float("-inf")), dim=-1) @ values
    assert not torch.allclose(out, wrong, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out, torch_prefix(t, 1), rtol=1e-4, atol=1e-5)


def test_bad_prefix_shape_is_refused(tmp_path):
    t = make_inputs(1, 2, 4, 16, 3, seed=1)
    t["prefix_value"] = torch.randn(2, 4, 16)
    proc, dst = run_eval(tmp_path, t)
    assert proc.returncode != 0 and "prefix_value" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()
