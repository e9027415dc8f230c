"""peft family against PyTorch: nn.Linear, and LoRA as loralib writes it (the frozen layer plus
(alpha / r) * (x @ lora_A^T) @ lora_B^T), through `mechbench eval` with PyTorch's names (input, weight, bias,
lora_A (r, d_in), lora_B (d_out, r)) at odd shapes; alpha is the --alpha axis (0 = r: scaling 1)."""
import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 1, 33, 17, 1), (2, 7, 64, 96, 5), (1, 257, 48, 48, 48), (3, 65, 17, 40, 17)]


def make_inputs(batch, n, d_in, d_out, r, seed):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(d_in, d_out)
    with torch.no_grad():
        layer.weight.uniform_(-d_in ** -0.5, d_in ** -0.5, generator=g)
        layer.bias.uniform_(-d_in ** -0.5, d_in ** -0.5, generator=g)
    return {"input": torch.randn(batch, n, d_in, generator=g), "weight": layer.weight.detach().clone(),
            "bias": layer.bias.detach().clone(), "lora_A": torch.randn(r, d_in, generator=g) * d_in ** -0.5,
            "lora_B": torch.randn(d_out, r, generator=g) * 0.05}


def run_eval(tmp_path, kernel, t, *args):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f["out"][...]).double()


def torch_lora(t, scaling):
    d = {k: v.double() for k, v in t.items()}
    base = torch.nn.functional.linear(d["input"], d["weight"], d["bias"])
    return base, base + scaling * (d["input"] @ d["lora_A"].T) @ d["lora_B"].T


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("alpha", [0, 16])
def test_lora_matches_torch(tmp_path, shape, alpha):
    t = make_inputs(*shape, seed=sum(shape) + alpha)
    r = shape[4]
    base, lora = torch_lora(t, (alpha if alpha else r) / r)
    got = {k: run_eval(tmp_path, k, t, "--alpha", str(alpha)) for k in ("peft.lora.unmerged", "peft.lora.merged")}
    for k, out in got.items():
        torch.testing.assert_close(out, lora, rtol=1e-4, atol=1e-5, msg=k)
    torch.testing.assert_close(run_eval(tmp_path, "peft.linear.base", t), base, rtol=1e-4, atol=1e-5)
    # the comparison has teeth: the LoRA output is not the base output
    assert (lora - base).abs().max() > 1e-3


def test_lora_wrong_scaling_is_caught(tmp_path):
    t = make_inputs(2, 7, 64, 96, 5, seed=3)
    _, lora = torch_lora(t, 1.0)
    out = run_eval(tmp_path, "peft.lora.unmerged", t, "--alpha", "10")  # scaling 2, not 1
    assert not torch.allclose(out, lora, rtol=1e-4, atol=1e-5)


def test_bad_shapes_are_refused(tmp_path):
    t = make_inputs(1, 4, 16, 8, 2, seed=1)
    t["lora_A"] = torch.randn(2, 15)
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", "peft.lora.unmerged", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and "lora_A" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()
