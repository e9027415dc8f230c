"""HiPPO, S4 and S4D kernels against PyTorch (Debian python3-torch 1.13) through `mechbench eval`.

The user's view: S4 takes u (batch, D, L), B, C (D, N), dt (D); S4D takes u, dt, A_re, A_im, C_re, C_im; HiPPO
takes a signal f (batch, L) and returns c (batch, N). Here PyTorch (float64) defines the semantics: the HiPPO-LegS
matrix, the bilinear / ZOH discretisations (torch.linalg.solve, torch.matrix_exp), the kernel Kbar and the causal
convolution (torch.fft), so the C oracles are checked by an independent implementation.
"""
import math

import h5py
import numpy as np
import pytest
import torch

from conftest import mechbench



@pytest.fixture(autouse=True)
def float64_by_default():
    """The references here are float64; restore the default afterwards (other modules share the process)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def legs(N):
    q = torch.sqrt(2 * torch.arange(N, dtype=torch.float64) + 1)
    A = -torch.tril(q[:, None] * q[None, :], -1) - torch.diag(torch.arange(N, dtype=torch.float64) + 1)
    return A, q.clone()


def legt(N, theta=1.0):
    q = torch.sqrt(2 * torch.arange(N, dtype=torch.float64) + 1)
    n = torch.arange(N)
    sign = torch.where((n[:, None] - n[None, :]) % 2 == 0, 1.0, -1.0)
    M = torch.where(n[None, :] < n[:, None], torch.ones(N, N), sign)
    return -(q[:, None] * q[None, :]) * M / theta, q / theta


def bilinear(A, B, dt):
    I = torch.eye(A.shape[0])
    lhs = I - dt / 2 * A
    return torch.linalg.solve(lhs, I + dt / 2 * A), dt * torch.linalg.solve(lhs, B)


def zoh(A, B, dt):
    N = A.shape[0]
    M = torch.zeros(N + 1, N + 1)
    M[:N, :N] = dt * A
    M[:N, N] = dt * B
    E = torch.matrix_exp(M)
    return E[:N, :N], E[:N, N]


def causal_conv(K, u):
    """y = K * u along the last axis (zero-padded FFT), K broadcast over batch."""
    L = u.shape[-1]
    return torch.fft.irfft(torch.fft.rfft(K, n=2 * L) * torch.fft.rfft(u, n=2 * L), n=2 * L)[..., :L]


def run_eval(tmp_path, kernel, tensors, *params):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in tensors.items():
            f[name] = t.to(torch.float32).numpy()
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return {k: torch.from_numpy(f[k][...]).double() for k in f.keys()}


def s4_inputs(batch, D, L, N, seed):
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(batch, D, L, generator=g)
    B = torch.randn(D, N, generator=g)
    C = torch.randn(D, N, generator=g) / math.sqrt(N)
    dt = torch.exp(math.log(1e-3) + torch.rand(D, generator=g) * (math.log(1e-1) - math.log(1e-3)))
    # the kernels read float32: define the reference on the rounded values
    return {k: v.float().double() for k, v in dict(u=u, B=B, C=C, dt=dt).items()}


def torch_s4(x):
    D, N = x["B"].shape
    L = x["u"].shape[-1]
    A, _ = legs(N)
    Ks = []
    for d in range(D):
        Ab, Bb = bilinear(A, x["B"][d], float(x["dt"][d]))
        v, K = Bb, []
        for _ in range(L):
            K.append(x["C"][d] @ v)
            v = Ab @ v
        Ks.append(torch.stack(K))
    return causal_conv(torch.stack(Ks), x["u"])


@pytest.mark.parametrize("kernel", ["ssm.s4.recurrent", "ssm.s4.fft", "ssm.s4.nplr"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (2, 3, 7, 5), (1, 2, 300, 16), (2, 1, 129, 64)])
def test_s4_matches_torch(tmp_path, kernel, shape):
    x = s4_inputs(*shape, seed=sum(shape))
    out = run_eval(tmp_path, kernel, x)["y"]
    want = torch_s4(x)
    assert out.shape == want.shape
    torch.testing.assert_close(out, want, rtol=1e-4, atol=1e-5)


def torch_s4d(x):
    A = torch.complex(x["A_re"], x["A_im"])
    C = torch.complex(x["C_re"], x["C_im"])
    dtA = x["dt"][:, None] * A
    Bb = (torch.exp(dtA) - 1) / A
    L = x["u"].shape[-1]
    l = torch.arange(L, dtype=torch.float64)
    K = torch.einsum("dn,dnl->dl", C * Bb, torch.exp(dtA[..., None] * l)).real  # Vandermonde
    return causal_conv(K, x["u"])


@pytest.mark.parametrize("kernel", ["ssm.s4d.vandermonde", "ssm.s4d.recurrent"])
@pytest.mark.parametrize("shape", [(1, 1, 1, 4), (2, 3, 7, 5), (1, 2, 1000, 32)])
@pytest.mark.parametrize("init", ["lin", "real"])
def test_s4d_matches_torch(tmp_path, kernel, shape, init):
    batch, D, L, N = shape
    g = torch.Generator().manual_seed(7 * L + N)
    n = torch.arange(N, dtype=torch.float64)
    x = dict(
        u=torch.randn(batch, D, L, generator=g),
        dt=torch.exp(math.log(1e-3) + torch.rand(D, generator=g) * math.log(100)),
        A_re=(-0.5 * torch.ones(D, N)) if init == "lin" else -(n + 1).expand(D, N).clone(),
        A_im=(math.pi * n).expand(D, N).clone() if init == "lin" else torch.zeros(D, N),
        C_re=torch.randn(D, N, generator=g) * math.sqrt(0.5),
        C_im=torch.randn(D, N, generator=g) * math.sqrt(0.5),
    )
    x = {k: v.float().double() for k, v in x.items()}
    out = run_eval(tmp_path, kernel, x)["y"]
    torch.testing.assert_close(out, torch_s4d(x), rtol=1e-4, atol=1e-5)


def hippo_signal(batch, L, seed):
    g = torch.Generator().manual_seed(seed)
    t = (torch.arange(L, dtype=torch.float64) + 0.5) / L
    f = torch.zeros(batch, L)
    for m in range(1, 9):
        a = (2 * torch.rand(batch, 1, generator=g) - 1) / m
        ph = 2 * math.pi * torch.rand(batch, 1, generator=g)
        f += a * torch.sin(2 * math.pi * m * t + ph)
    return f.float().double()


def torch_legs(f, N):
    """Step-free bilinear LegS (MECHANISMS.md): c_1 = f_0 e_0; c_{k+1} = (I - A/(2(k+1)))^-1 [(I + A/(2k)) c_k + B f_k/k]."""
    A, B = legs(N)
    I = torch.eye(N)
    c = torch.zeros(f.shape[0], N)
    c[:, 0] = f[:, 0]
    for k in range(1, f.shape[1]):
        rhs = c @ (I + A / (2 * k)).T + f[:, k:k + 1] * B / k
        c = torch.linalg.solve(I - A / (2 * (k + 1)), rhs.T).T
    return c


@pytest.mark.parametrize("kernel", ["ssm.hippo.legs", "ssm.hippo.legs_fast"])
@pytest.mark.parametrize("L,N", [(1, 4), (50, 7), (400, 32)])
def test_hippo_legs_matches_torch(tmp_path, kernel, L, N):
    f = hippo_signal(2, L, seed=L + N)
    out = run_eval(tmp_path, kernel, {"f": f}, "--param", f"rank={N}")["c"]
    torch.testing.assert_close(out, torch_legs(f, N), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("disc", ["bilinear", "zoh"])
def test_hippo_legt_matches_torch(tmp_path, disc):
    L, N, theta = 300, 16, 0.5
    f = hippo_signal(2, L, seed=3)
    A, B = legt(N, theta)
    Ad, Bd = (bilinear if disc == "bilinear" else zoh)(A, B, 1.0 / L)
    c = torch.zeros(2, N)
    for k in range(L):
        c = c @ Ad.T + f[:, k:k + 1] * Bd
    out = run_eval(tmp_path, "ssm.hippo.legt", {"f": f}, "--param", f"rank={N}", "--param", f"disc={disc}",
                   "--param", f"theta={theta}")["c"]
    torch.testing.assert_close(out, c, rtol=1e-4, atol=1e-5)


def test_legs_reconstruction_uses_scaled_legendre(tmp_path):
    """f(t x) ~ sum_n c_n sqrt(2n+1) P_n(2x - 1): with N = 32 the LegS coefficients reproduce the signal."""
    L, N = 2000, 32
    f = hippo_signal(1, L, seed=5)
    c = run_eval(tmp_path, "ssm.hippo.legs_fast", {"f": f}, "--param", f"rank={N}")["c"][0]
    x = (torch.arange(L, dtype=torch.float64) + 0.5) / L
    P = torch.from_numpy(np.polynomial.legendre.legvander(2 * x.numpy() - 1, N - 1))
    rec = P @ (c * torch.sqrt(2 * torch.arange(N, dtype=torch.float64) + 1))
    assert torch.linalg.norm(rec - f[0]) / torch.linalg.norm(f[0]) < 0.05


def test_eval_rejects_bad_shapes(tmp_path):
    x = s4_inputs(1, 2, 8, 4, seed=1)
    x["C"] = x["C"][:, :3]
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        for name, t in x.items():
            f[name] = t.float().numpy()
    proc = mechbench("eval", "ssm.s4.fft", "--in", src, "--out", dst, check=False)
    assert proc.returncode != 0 and "'C'" in proc.stderr
    assert not dst.exists()
