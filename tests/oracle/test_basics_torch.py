"""basics families against PyTorch, through `mechbench eval` with PyTorch's names.

conv_bn: nn.Conv2d (bias or not) followed by nn.BatchNorm2d in training mode (the output and the updated
running_mean / running_var, momentum 0.1, unbiased variance) or nn.LayerNorm(C_out) on channels-last, at odd shapes
(N = 1, H = 1, odd C, k = 1 and 3, stride 2, padding). perceptron: the rule replayed in Python on dyadic data."""
import h5py
import pytest
import torch

from conftest import mechbench

# batch, C_in, C_out, H, W, k, stride, padding
SHAPES = [(1, 3, 5, 1, 7, 1, 1, 0), (1, 3, 5, 1, 9, 3, 2, 1), (2, 5, 7, 11, 13, 3, 2, 1), (3, 1, 4, 5, 5, 5, 1, 0),
          (4, 8, 16, 16, 16, 3, 1, 1)]


def make_inputs(batch, c_in, c_out, h, w, k, seed):
    g = torch.Generator().manual_seed(seed)
    bound = (c_in * k * k) ** -0.5
    return {"input": torch.randn(batch, c_in, h, w, generator=g),
            "weight": (torch.rand(c_out, c_in, k, k, generator=g) * 2 - 1) * bound,
            "bias": (torch.rand(c_out, generator=g) * 2 - 1) * bound,
            "bn_weight": 1 + 0.1 * torch.randn(c_out, generator=g), "bn_bias": 0.1 * torch.randn(c_out, generator=g),
            "running_mean": 0.1 * torch.randn(c_out, generator=g), "running_var": 0.5 + torch.rand(c_out, generator=g)}


def run_eval(tmp_path, kernel, tensors, *args):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in tensors.items():
            f[name] = x.numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *args, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return {name: torch.from_numpy(f[name][...]).double() for name in f}


def torch_conv_norm(t, k, stride, padding, norm, use_bias):
    c_out, c_in = t["weight"].shape[:2]
    conv = torch.nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=use_bias).double()
    with torch.no_grad():
        conv.weight.copy_(t["weight"])
        if use_bias:
            conv.bias.copy_(t["bias"])
        z = conv(t["input"].double())
        if norm == "batch":
            bn = torch.nn.BatchNorm2d(c_out).double().train()  # momentum 0.1, eps 1e-5
            bn.weight.copy_(t["bn_weight"]), bn.bias.copy_(t["bn_bias"])
            bn.running_mean.copy_(t["running_mean"]), bn.running_var.copy_(t["running_var"])
            return {"out": bn(z), "running_mean": bn.running_mean.clone(), "running_var": bn.running_var.clone()}
        ln = torch.nn.LayerNorm(c_out).double()  # eps 1e-5, over the channels of each position
        ln.weight.copy_(t["bn_weight"]), ln.bias.copy_(t["bn_bias"])
        return {"out": ln(z.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)}


def eval_inputs(t, norm, use_bias):
    keep = ["input", "weight", "bn_weight", "bn_bias"] + (["running_mean", "running_var"] if norm == "batch" else [])
    return {name: t[name] for name in keep + (["bias"] if use_bias else [])}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("use_bias", [1, 0])
def test_conv_norm_matches_torch(tmp_path, shape, norm, use_bias):
    batch, c_in, c_out, h, w, k, stride, padding = shape
    t = make_inputs(batch, c_in, c_out, h, w, k, seed=sum(shape))
    want = torch_conv_norm(t, k, stride, padding, norm, use_bias)
    got = run_eval(tmp_path, "basics.conv_bn.im2col", eval_inputs(t, norm, use_bias), "--param", f"norm={norm}",
                   "--param", f"use_bias={use_bias}", "--param", f"stride={stride}", "--param", f"padding={padding}")
    assert sorted(got) == sorted(want)
    for name in want:
        torch.testing.assert_close(got[name], want[name], rtol=1e-4, atol=1e-5, msg=name)


def test_bias_redundant_before_batchnorm_only(tmp_path):
    t = make_inputs(4, 8, 16, 16, 16, 3, seed=5)
    got = {}
    for norm in ("batch", "layer"):
        for b in (0, 1):
            got[norm, b] = run_eval(tmp_path, "basics.conv_bn.im2col", eval_inputs(t, norm, b), "--param", f"norm={norm}",
                                    "--param", f"use_bias={b}", "--param", "padding=1")["out"]
            torch.testing.assert_close(got[norm, b], torch_conv_norm(t, 3, 1, 1, norm, b)["out"], rtol=1e-4, atol=1e-5)
    rel = {n: ((got[n, 1] - got[n, 0]).norm() / got[n, 0].norm()).item() for n in ("batch", "layer")}
    assert rel["batch"] < 1e-5 and rel["layer"] > 1e-2, rel


def test_running_var_is_the_unbiased_one(tmp_path):
    """the comparison has teeth: the biased batch variance in the running average would be caught"""
    t = make_inputs(2, 5, 7, 11, 13, 3, seed=3)
    got = run_eval(tmp_path, "basics.conv_bn.im2col", eval_inputs(t, "batch", 1), "--param", "stride=2",
                   "--param", "padding=1")
    z = torch.nn.functional.conv2d(t["input"].double(), t["weight"].double(), t["bias"].double(), stride=2, padding=1)
    biased = 0.9 * t["running_var"].double() + 0.1 * z.var(dim=(0, 2, 3), unbiased=False)
    assert not torch.allclose(got["running_var"], biased, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got["running_var"], torch_conv_norm(t, 3, 2, 1, "batch", 1)["running_var"], rtol=1e-4,
                               atol=1e-5)


def test_bad_weight_shape_is_refused(tmp_path):
    t = make_inputs(1, 3, 5, 8, 8, 3, seed=1)
    t["weight"] = torch.randn(5, 4, 3, 3)
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in eval_inputs(t, "batch", 1).items():
            f[name] = x.numpy()
    proc = mechbench("eval", "basics.conv_bn.im2col", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and "weight" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()


def replay_perceptron(x, y, bias, lr=1.0, max_epochs=1000):
    n, d = x.shape
    w, b, mistakes, epochs = [0.0] * d, 0.0, 0, 0
    while epochs < max_epochs:
        errors = 0
        for i in range(n):
            s = b + sum(w[j] * float(x[i, j]) for j in range(d))
            y_hat = 1.0 if s > 0 else 0.0
            if y_hat != float(y[i]):
                step = lr * (float(y[i]) - y_hat)
                w = [w[j] + step * float(x[i, j]) for j in range(d)]
                b += step if bias else 0.0
                errors += 1
        mistakes += errors
        epochs += 1
        if errors == 0:
            break
    return w, b, [mistakes, epochs, 1.0 if errors == 0 else 0.0]


@pytest.mark.parametrize("n,d", [(1, 1), (9, 3), (40, 5)])
def test_perceptron_eval_matches_python_replay(tmp_path, n, d):
    g = torch.Generator().manual_seed(n * 100 + d)
    x = torch.randint(-8, 9, (n, d), generator=g).float() / 8  # dyadic: float and double decide alike
    u = torch.randn(d, generator=g)
    y = ((x @ u + 0.3) > 0).float()
    for kernel, bias in (("basics.perceptron.bias", True), ("basics.perceptron.nobias", False)):
        got = run_eval(tmp_path, kernel, {"input": x, "target": y}, "--param", "max_epochs=300")
        w, b, counts = replay_perceptron(x, y, bias, max_epochs=300)
        assert got["weight"].tolist() == w and got["bias"].tolist() == [b] and got["counts"].tolist() == counts
