"""peft family against PyTorch: nn.Linear, and LoRA as loralib writes it (the frozen layer plus
(alpha / r) * (x @ lora_A^T) @ lora_B^T), through `mechbench eval` with PyTorch's names (input, weight, bias,
lora_A (r, d_in), lora_B (d_out, r)) at odd shapes; alpha is the --alpha axis (0 = r: scaling 1)."""
import h5py
import numpy as np
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


# --------------------------------------------------------------------------------------- LoRA with a `scaling` dataset
def write_h5(path, t):
    with h5py.File(path, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy() if isinstance(x, torch.Tensor) else x


def eval_out(tmp_path, kernel, t, *args, name="out"):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    write_h5(src, t)
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return torch.from_numpy(f[name][...]).double()


def eval_error(tmp_path, kernel, t, *args):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    write_h5(src, t)
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    assert proc.returncode != 0 and not dst.exists()
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("scalar", [True, False])
def test_lora_scaling_dataset_sets_the_scaling(tmp_path, shape, scalar):
    t = make_inputs(*shape, seed=sum(shape) + 7)
    scaling = 2.75
    t["scaling"] = np.float32(scaling) if scalar else np.array([scaling], dtype=np.float32)
    _, lora = torch_lora({k: v for k, v in t.items() if k != "scaling"}, scaling)
    # the dataset wins over the --alpha axis
    for k in ("peft.lora.unmerged", "peft.lora.merged"):
        torch.testing.assert_close(eval_out(tmp_path, k, t, "--alpha", "1"), lora, rtol=1e-4, atol=1e-5, msg=k)
    t["scaling"] = np.float32(1.0)
    assert not torch.allclose(eval_out(tmp_path, "peft.lora.unmerged", t), lora, rtol=1e-4, atol=1e-5)


def test_lora_bad_scaling_is_refused(tmp_path):
    t = make_inputs(1, 4, 16, 8, 2, seed=1)
    t["scaling"] = np.float32(-1.0)
    line = eval_error(tmp_path, "peft.lora.unmerged", t)
    assert "'scaling' = -1" in line and "> 0" in line
    t["scaling"] = np.ones(2, dtype=np.float32)
    assert "'scaling' must be a scalar or shape (1,)" in eval_error(tmp_path, "peft.lora.merged", t)


# --------------------------------------------------------------------------------------- LoRA merge
@pytest.mark.parametrize("shape", SHAPES + [(1, 1, 9, 1, 1)])
@pytest.mark.parametrize("with_scaling", [False, True])
def test_lora_merge_matches_torch(tmp_path, shape, with_scaling):
    _, _, d_in, d_out, r = shape
    t = make_inputs(*shape, seed=sum(shape) + 11)
    w = {k: t[k] for k in ("weight", "lora_A", "lora_B")}
    args, scaling = ("--alpha", "6"), 6 / r
    if with_scaling:
        w["scaling"], scaling = np.float32(0.375), 0.375
    want = w["weight"].double() + scaling * w["lora_B"].double() @ w["lora_A"].double()
    got = eval_out(tmp_path, "peft.lora.merge", w, *args, name="merged_weight")
    assert got.shape == (d_out, d_in)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)
    assert (want - w["weight"].double()).abs().max() > 1e-3  # the merge is not the identity on W0


def test_lora_merge_bad_shapes_are_refused(tmp_path):
    t = make_inputs(1, 4, 16, 8, 2, seed=1)
    w = {"weight": t["weight"], "lora_A": torch.randn(2, 15), "lora_B": t["lora_B"]}
    assert "lora_A" in eval_error(tmp_path, "peft.lora.merge", w)
    w = {"weight": t["weight"], "lora_A": t["lora_A"], "lora_B": torch.randn(7, 2)}
    assert "'lora_B' has the wrong shape" in eval_error(tmp_path, "peft.lora.merge", w)


# --------------------------------------------------------------------------------------- adapters
ACTS = {"relu": torch.nn.ReLU(), "gelu": torch.nn.GELU(), "gelu_tanh": torch.nn.GELU(approximate="tanh")}


class Adapter(torch.nn.Module):
    """Houlsby's bottleneck (nn.Linear down, activation, nn.Linear up); serial: after the frozen layer, on its output
    h, with the residual; parallel (He et al.): on the layer's input, scaled by s, added to h."""

    def __init__(self, layer, m, parallel, act, scale=1.0):
        super().__init__()
        self.layer, self.parallel, self.act, self.scale = layer, parallel, ACTS[act], scale
        d_src = layer.in_features if parallel else layer.out_features
        self.down = torch.nn.Linear(d_src, m)
        self.up = torch.nn.Linear(m, layer.out_features)

    def forward(self, x):
        h = self.layer(x)
        if self.parallel:
            return h + self.scale * self.up(self.act(self.down(x)))
        return h + self.up(self.act(self.down(h)))


def make_adapter(batch, n, d_in, d_out, m, parallel, act, scale, seed):
    g = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(d_in, d_out)
    module = Adapter(layer, m, parallel, act, scale).double()
    with torch.no_grad():  # seeded, not Houlsby's near-zero init (that would make the adapter the identity)
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * p.shape[-1] ** -0.5)
        module.up.weight.mul_(4.0)
    x = torch.randn(batch, n, d_in, generator=g, dtype=torch.float64)
    t = {"input": x, "weight": layer.weight, "bias": layer.bias, "down_weight": module.down.weight,
         "down_bias": module.down.bias, "up_weight": module.up.weight, "up_bias": module.up.bias}
    return module, {k: v.detach().float() for k, v in t.items()}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("act", ["relu", "gelu", "gelu_tanh"])
@pytest.mark.parametrize("parallel", [False, True])
def test_adapters_match_torch_modules(tmp_path, shape, act, parallel):
    scale = 0.5 if parallel else 1.0
    module, t = make_adapter(*shape, parallel, act, scale, seed=sum(shape) + 5 * parallel)
    with torch.no_grad():
        want = module(t["input"].double())
        base = module.layer(t["input"].double())
    kernel = "peft.adapter.parallel" if parallel else "peft.adapter.serial"
    args = ["--param", f"act={act}"] + (["--param", f"scale={scale}"] if parallel else [])
    torch.testing.assert_close(eval_out(tmp_path, kernel, t, *args), want, rtol=1e-4, atol=1e-5)
    assert (want - base).abs().max() > 1e-2  # the adapter is not the identity
    if act != "gelu_tanh":  # the default activation is the tanh GELU (adapter-bert's): another act gives other numbers
        assert not torch.allclose(eval_out(tmp_path, kernel, t, *args[2:]), want, rtol=1e-4, atol=1e-5)


def test_adapter_bad_inputs_are_refused(tmp_path):
    _, t = make_adapter(1, 4, 16, 8, 3, False, "relu", 1.0, seed=2)
    line = eval_error(tmp_path, "peft.adapter.parallel", t)  # a serial adapter's down_weight (m, d_out)
    assert "'down_weight' has the wrong shape" in line and "m,d_in" in line
    assert "act" in eval_error(tmp_path, "peft.adapter.serial", t, "--param", "act=swish")
    _, t = make_adapter(1, 4, 16, 8, 3, True, "relu", 1.0, seed=2)
    line = eval_error(tmp_path, "peft.adapter.serial", t, "--param", "placement=parallel")
    assert "serial adapter" in line and "peft.adapter.parallel" in line


# --------------------------------------------------------------------------------------- prompt tuning
@pytest.mark.parametrize("shape", SHAPES)
def test_prompt_matches_torch_cat(tmp_path, shape):
    batch, n, d_in, d_out, lp = shape
    t = make_inputs(*shape, seed=sum(shape) + 3)
    g = torch.Generator().manual_seed(lp)
    p = {"input": t["input"], "weight": t["weight"], "bias": t["bias"], "prompt": torch.randn(lp, d_in, generator=g)}
    d = {k: v.double() for k, v in p.items()}
    want = torch.nn.functional.linear(torch.cat((d["prompt"].expand(batch, -1, -1), d["input"]), dim=1), d["weight"],
                                      d["bias"])
    for kernel in ("peft.prompt", "peft.prompt.prepend"):
        got = eval_out(tmp_path, kernel, p)
        assert got.shape == (batch, lp + n, d_out)
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    p["prompt"] = p["prompt"].flip(0)  # the order of the prompt rows matters
    if lp > 1:
        assert not torch.allclose(eval_out(tmp_path, "peft.prompt", p), want, rtol=1e-4, atol=1e-5)


def test_prompt_bad_shapes_are_refused(tmp_path):
    t = make_inputs(1, 4, 16, 8, 2, seed=1)
    p = {"input": t["input"], "weight": t["weight"], "bias": t["bias"], "prompt": torch.randn(3, 15)}
    line = eval_error(tmp_path, "peft.prompt", p)
    assert "'prompt' must be (L_p, d_in)" in line
