"""Selective and linear RNN kernels (ssm.mamba, ssm.lru, ssm.retnet, ssm.rwkv) against PyTorch transcriptions of
their reference semantics, through `mechbench eval` at odd shapes.

- Mamba: the reference `selective_scan_ref` of mamba_ssm (selective_scan_interface.py), variable B and C
  (batch, N, L), optional gate z; inputs named as the Mamba block's parameters (A_log with A = -exp(A_log), D_skip,
  delta_softplus=True) or as selective_scan_ref's own arguments (A, D, and --param delta_softplus=0|1); eval tells
  the two namings (and the gate, by z) from the file.
- LRU: the paper's forward pass (Orvieto et al. 2023, Appendix A) in complex arithmetic.
- RetNet: the parallel form (Q K^T .* D) V with D_nm = g^(n-m), g_h = 1 - 2^(-5-h).
- RWKV-4: the WKV formula written directly, in float64 with log-sum-exp.
"""
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from conftest import mechbench


def run_eval(tmp_path, kernel, tensors, *args):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in tensors.items():
            f[name] = t.float().numpy()
    mechbench("eval", kernel, "--in", src, "--out", dst, *args)
    with h5py.File(dst, "r") as f:
        name = list(f.keys())[0]
        return torch.from_numpy(f[name][...])


# ------------------------------------------------------------------------------------------------ mamba
def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """mamba_ssm.ops.selective_scan_interface.selective_scan_ref, real A, variable B, C of shape (batch, N, L)."""
    if delta_bias is not None:
        delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    ys = []
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y if D is None else y + u * D[:, None]
    if z is not None:
        out = out * F.silu(z)
    return out


def mamba_inputs(batch, D, L, N, gate, seed):
    g = torch.Generator().manual_seed(seed)
    t = {
        "u": torch.randn(batch, D, L, generator=g),
        "delta": 0.5 * torch.randn(batch, D, L, generator=g),
        "A_log": torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(D, 1) + 0.1 * torch.randn(D, N, generator=g),
        "B": torch.randn(batch, N, L, generator=g),
        "C": torch.randn(batch, N, L, generator=g),
        "D_skip": torch.randn(D, generator=g),
        "delta_bias": torch.log(torch.expm1(torch.rand(D, generator=g) * 0.1 + 1e-3)),
    }
    if gate:
        t["z"] = torch.randn(batch, D, L, generator=g)
    return t


def mamba_want(t):
    d = {k: v.double() for k, v in t.items()}
    return selective_scan_ref(d["u"], d["delta"], -torch.exp(d["A_log"]), d["B"], d["C"], D=d["D_skip"], z=d.get("z"),
                              delta_bias=d["delta_bias"], delta_softplus=True)


@pytest.mark.parametrize("L", [1, 7, 129])
@pytest.mark.parametrize("N", [4, 16])
@pytest.mark.parametrize("gate", [0, 1])
@pytest.mark.parametrize("kernel,extra", [("ssm.mamba.scan_seq", []), ("ssm.mamba.scan_parallel", ["--block", "7"]),
                                          ("ssm.mamba.scan_parallel", [])])
def test_mamba_scans_match_selective_scan_ref(tmp_path, L, N, gate, kernel, extra):
    t = mamba_inputs(2, 3, L, N, gate, seed=L * 31 + N + gate)
    out = run_eval(tmp_path, kernel, t, "--param", f"gate={gate}", *extra)
    assert out.shape == (2, 3, L) and out.dtype == torch.float32
    torch.testing.assert_close(out.double(), mamba_want(t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("L", [7, 300])
@pytest.mark.parametrize("N", [5, 16])
@pytest.mark.parametrize("gate", [0, 1])
def test_mamba_lanes_match_selective_scan_ref(tmp_path, L, N, gate):
    """D = 37 at 1 thread: scan_seq scans two blocks of 16 channels in the vector lanes (the rest in groups)."""
    t = mamba_inputs(2, 37, L, N, gate, seed=L * 7 + N + gate)
    out = run_eval(tmp_path, "ssm.mamba.scan_seq", t, "--param", f"gate={gate}", "--threads", "1")
    torch.testing.assert_close(out.double(), mamba_want(t), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("L", [1, 7, 129])
def test_mamba_decode_matches_the_last_step(tmp_path, L):
    t = mamba_inputs(2, 3, L, 16, 1, seed=5 * L)
    out = run_eval(tmp_path, "ssm.mamba.decode", t, "--param", "gate=1")
    torch.testing.assert_close(out[..., -1].double(), mamba_want(t)[..., -1], rtol=1e-4, atol=1e-5)


def test_mamba_eval_rejects_a_mismatched_B(tmp_path):
    t = mamba_inputs(2, 3, 7, 4, 1, seed=1)
    t["B"] = torch.randn(2, 5, 7)
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, x in t.items():
            f[name] = x.numpy()
    proc = mechbench("eval", "ssm.mamba.scan_seq", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and "'B'" in proc.stderr
    assert not dst.exists()


# ------------------------------------------------------------------------------------------------ mamba: the reference's names
def ref_inputs(batch, D, L, N, gate, softplus, seed):
    """selective_scan_ref's arguments: A given directly (one entry positive, so nothing goes through log(-A)), and for
    delta_softplus=False a delta that is already a step (positive, as softplus would make it)."""
    t = mamba_inputs(batch, D, L, N, gate, seed)
    g = torch.Generator().manual_seed(seed + 1)
    r = {"u": t["u"], "A": -torch.exp(t["A_log"]), "B": t["B"], "C": t["C"], "D": t["D_skip"]}
    r["A"][0, -1] = 0.5
    if softplus:
        r["delta"], r["delta_bias"] = t["delta"], t["delta_bias"]
    else:
        r["delta"] = F.softplus(t["delta"] + t["delta_bias"][:, None])
        r["delta_bias"] = 0.01 * torch.rand(D, generator=g)
    if gate:
        r["z"] = t["z"]
    return r


def ref_want(r, softplus):
    d = {k: v.double() for k, v in r.items()}
    return selective_scan_ref(d["u"], d["delta"], d["A"], d["B"], d["C"], D=d["D"], z=d.get("z"),
                              delta_bias=d["delta_bias"], delta_softplus=bool(softplus))


@pytest.mark.parametrize("softplus", [0, 1])
@pytest.mark.parametrize("gate", [0, 1])
@pytest.mark.parametrize("L", [1, 7, 129])
@pytest.mark.parametrize("kernel,extra", [("ssm.mamba.scan_seq", []), ("ssm.mamba.scan_parallel", ["--block", "7"]),
                                          ("ssm.mamba.decode", [])])
def test_mamba_eval_takes_selective_scan_refs_names(tmp_path, kernel, extra, L, gate, softplus):
    r = ref_inputs(2, 3, L, 5, gate, softplus, seed=97 * L + 2 * gate + softplus)
    out = run_eval(tmp_path, kernel, r, "--param", "names=ref", "--param", f"delta_softplus={softplus}",
                   "--param", f"gate={gate}", *extra)
    want = ref_want(r, softplus)
    assert out.shape == (2, 3, L)
    if kernel.endswith("decode"):
        out, want = out[..., -1], want[..., -1]
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5)


def test_mamba_delta_softplus_is_honoured(tmp_path):
    """The same ref-named tensors with delta_softplus=1 and 0 give different outputs, each matching its reference."""
    r = ref_inputs(1, 2, 33, 4, 1, 0, seed=3)  # delta already a step: finite either way
    for softplus in (0, 1):
        out = run_eval(tmp_path, "ssm.mamba.scan_seq", r, "--param", "names=ref", "--param", f"delta_softplus={softplus}")
        torch.testing.assert_close(out.double(), ref_want(r, softplus), rtol=1e-4, atol=1e-5)
        other = ref_want(r, 1 - softplus)
        assert (out.double() - other).abs().max() > 1e-2


def test_mamba_both_namings_agree(tmp_path):
    t = mamba_inputs(2, 3, 50, 8, 1, seed=11)
    r = {"u": t["u"], "delta": t["delta"], "A": -torch.exp(t["A_log"].double()), "B": t["B"], "C": t["C"],
         "D": t["D_skip"], "delta_bias": t["delta_bias"], "z": t["z"]}
    module = run_eval(tmp_path, "ssm.mamba.scan_seq", t)
    ref = run_eval(tmp_path, "ssm.mamba.scan_seq", r, "--param", "names=ref")
    torch.testing.assert_close(ref, module, rtol=1e-5, atol=1e-6)


def write_inputs(path, tensors):
    with h5py.File(path, "w") as f:
        for name, x in tensors.items():
            f[name] = x.float().numpy()


def test_mamba_eval_refuses_mixed_names(tmp_path):
    """A file that mixes the two namings (A with D_skip) is refused in one line that names both accepted sets, and
    no output is written."""
    r = ref_inputs(2, 3, 7, 4, 1, 1, seed=1)
    r["D_skip"] = r.pop("D")
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    write_inputs(src, r)
    proc = mechbench("eval", "ssm.mamba.scan_seq", "--in", src, "--out", dst, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "mixes" in proc.stderr and "A_log, B, C, D_skip" in proc.stderr and "A, B, C, D," in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not dst.exists()


@pytest.mark.parametrize("drop", ["delta_bias", "B"])
def test_mamba_eval_refuses_a_missing_tensor(tmp_path, drop):
    r = ref_inputs(2, 3, 7, 4, 1, 1, seed=1)
    del r[drop]
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    write_inputs(src, r)
    proc = mechbench("eval", "ssm.mamba.scan_seq", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and f"'{drop}'" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not dst.exists()


@pytest.mark.parametrize("gate", [0, 1])
def test_mamba_eval_tells_the_naming_from_the_file(tmp_path, gate):
    """selective_scan_ref's names (A, D) and the module's (A_log, D_skip) are told apart by the file itself, and the
    gate by z's presence: no --param needed; both give the reference's output."""
    r = ref_inputs(2, 3, 9, 4, gate, 1, seed=5)
    r["A"][0, -1] = -0.5  # negative, so the module's A_log = log(-A) exists
    want = ref_want(r, 1)
    for naming in ("ref", "module"):
        t = dict(r)
        if naming == "module":
            t["A_log"] = torch.log(-t.pop("A"))
            t["D_skip"] = t.pop("D")
        src, dst = tmp_path / f"{naming}.h5", tmp_path / f"{naming}_out.h5"
        write_inputs(src, t)
        mechbench("eval", "ssm.mamba.scan_seq", "--in", src, "--out", dst)
        with h5py.File(dst, "r") as f:
            got = torch.from_numpy(f["y"][...]).double()
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5 * max(1.0, want.abs().max().item()))


def test_mamba_describe_shows_both_namings():
    out = mechbench("describe", "ssm.mamba.scan_seq").stdout
    for word in ("A_log", "D_skip", "selective_scan_ref", "names", "module", "ref", "delta_softplus"):
        assert word in out, word
    param = next(line for line in out.splitlines() if line.strip().startswith("names"))
    assert "A, B, C, D, delta_bias" in param and "A_log, B, C, D_skip, delta_bias" in param, param


# ------------------------------------------------------------------------------------------------ lru
def lru_inputs(batch, L, H, N, seed):
    g = torch.Generator().manual_seed(seed)
    r_min, r_max, max_phase = 0.9, 0.999, 2 * np.pi / 10
    u1, u2 = torch.rand(N, generator=g), torch.rand(N, generator=g)
    return {
        "u": torch.randn(batch, L, H, generator=g),
        "nu_log": torch.log(-0.5 * torch.log(u1 * (r_max**2 - r_min**2) + r_min**2)),
        "theta_log": torch.log(max_phase * u2),
        "B_re": torch.randn(N, H, generator=g) / np.sqrt(2 * H),
        "B_im": torch.randn(N, H, generator=g) / np.sqrt(2 * H),
        "C_re": torch.randn(H, N, generator=g) / np.sqrt(N),
        "C_im": torch.randn(H, N, generator=g) / np.sqrt(N),
        "D": torch.randn(H, generator=g),
    }


def lru_want(t):
    d = {k: v.double() for k, v in t.items()}
    lam = torch.exp(-torch.exp(d["nu_log"]) + 1j * torch.exp(d["theta_log"]))
    gamma = torch.sqrt(1 - lam.abs() ** 2)
    B = (d["B_re"] + 1j * d["B_im"]) * gamma[:, None]
    C = d["C_re"] + 1j * d["C_im"]
    Bu = torch.einsum("nh,blh->bln", B, d["u"].to(torch.complex128))
    x = torch.zeros(Bu.shape[0], Bu.shape[2], dtype=torch.complex128)
    xs = []
    for i in range(Bu.shape[1]):
        x = lam * x + Bu[:, i]
        xs.append(x)
    xs = torch.stack(xs, dim=1)
    return torch.einsum("hn,bln->blh", C, xs).real + d["D"] * d["u"]


@pytest.mark.parametrize("L", [1, 7, 129])
@pytest.mark.parametrize("kernel,extra", [("ssm.lru.scan_seq", []), ("ssm.lru.scan_parallel", ["--block", "7"])])
def test_lru_matches_the_paper_forward(tmp_path, L, kernel, extra):
    t = lru_inputs(2, L, 5, 19, seed=L)
    out = run_eval(tmp_path, kernel, t, *extra)
    assert out.shape == (2, L, 5)
    torch.testing.assert_close(out.double(), lru_want(t), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------ retnet
def retention_parallel(q, k, v):
    heads, n = q.shape[1], q.shape[2]
    g = 1 - 2.0 ** (-5 - torch.arange(heads, dtype=torch.float64))
    idx = torch.arange(n, dtype=torch.float64)
    diff = idx[:, None] - idx[None, :]
    D = torch.where(diff >= 0, g[:, None, None] ** diff.clamp(min=0), torch.zeros(()))
    return ((q @ k.transpose(-1, -2)) * D) @ v


@pytest.mark.parametrize("n", [1, 7, 129])
@pytest.mark.parametrize("kernel,extra", [("ssm.retnet.parallel", []), ("ssm.retnet.recurrent", []),
                                          ("ssm.retnet.chunkwise", ["--block", "7"]), ("ssm.retnet.chunkwise", [])])
def test_retention_matches_the_parallel_form(tmp_path, n, kernel, extra):
    g = torch.Generator().manual_seed(n)
    t = {name: torch.randn(2, 3, n, 16, generator=g) / (2.0 if name != "v" else 1.0) for name in ("q", "k", "v")}
    out = run_eval(tmp_path, kernel, t, *extra)
    want = retention_parallel(t["q"].double(), t["k"].double(), t["v"].double())
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-4)


def test_retention_decode_is_the_last_row(tmp_path):
    g = torch.Generator().manual_seed(3)
    t = {name: torch.randn(1, 4, 33, 8, generator=g) for name in ("q", "k", "v")}
    out = run_eval(tmp_path, "ssm.retnet.decode", t)
    want = retention_parallel(t["q"].double(), t["k"].double(), t["v"].double())
    torch.testing.assert_close(out[:, :, -1].double(), want[:, :, -1], rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------------ rwkv
def wkv_direct(w, u, k, v):
    """y_t = [sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t] / [same without v], log-sum-exp, float64."""
    T = k.shape[1]
    t_idx = torch.arange(T, dtype=torch.float64)
    dist = (t_idx[:, None] - 1 - t_idx[None, :])  # (t, i)
    expo = -dist[None, :, :, None] * w + k[:, None, :, :]  # (b, t, i, c)
    mask = (t_idx[None, :] < t_idx[:, None])[None, :, :, None]
    expo = torch.where(mask, expo, torch.full((), -float("inf"), dtype=torch.float64))
    diag = torch.eye(T, dtype=torch.bool)[None, :, :, None]
    expo = torch.where(diag, (u + k)[:, None, :, :].expand_as(expo), expo)
    weights = torch.softmax(expo, dim=2)
    return torch.einsum("btic,bic->btc", weights, v)


@pytest.mark.parametrize("T", [1, 7, 129])
@pytest.mark.parametrize("kernel", ["ssm.rwkv.wkv_stable", "ssm.rwkv.wkv_direct"])
def test_wkv_matches_the_formula(tmp_path, T, kernel):
    g = torch.Generator().manual_seed(T)
    C = 19
    t = {"w": torch.exp(torch.rand(C, generator=g) * 6 - 5), "u": torch.randn(C, generator=g) * 0.5,
         "k": torch.randn(2, T, C, generator=g), "v": torch.randn(2, T, C, generator=g)}
    out = run_eval(tmp_path, kernel, t)
    want = wkv_direct(*(t[x].double() for x in ("w", "u", "k", "v")))
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5)


def test_wkv_stable_handles_large_keys(tmp_path):
    g = torch.Generator().manual_seed(9)
    C, T = 16, 40
    t = {"w": torch.exp(torch.rand(C, generator=g) * 6 - 5), "u": torch.randn(C, generator=g) * 0.5,
         "k": torch.randn(1, T, C, generator=g) * 3 + 100, "v": torch.randn(1, T, C, generator=g)}
    out = run_eval(tmp_path, "ssm.rwkv.wkv_stable", t)
    want = wkv_direct(*(t[x].double() for x in ("w", "u", "k", "v")))
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.double(), want, rtol=1e-4, atol=1e-5)
