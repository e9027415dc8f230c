"""HiPPO-LMU, -LagT and -FouT kernels against PyTorch (float64) through `mechbench eval`.

The user's view (kernels/ssm/family_hippo.h): a signal f (batch, L) goes in, the coefficients c (batch, N) at the
final time come out, N = rank. Each measure is an LTI system c' = A c + B f; the kernel discretises it with step
dt = eps (eps = 0: dt = 1/L, the signal spans one time unit) by disc = bilinear | zoh | euler | backward and runs
c_{k+1} = Ad c_k + Bd f_k from c_0 = 0 over the L samples. Here A and B are written out in torch from MECHANISMS.md
section C and the kernels' comments, discretised in torch (torch.linalg.solve, torch.matrix_exp) and run as the same
recurrence in float64, so the C code (its LAPACKE solves, its Pade exponential, its float32 recurrence) is checked by
an independent implementation. Tolerances are those of the LegS / LegT tests next door (test_ssm_s4_torch.py).
"""
import math

import h5py
import pytest
import torch

from conftest import mechbench

RTOL, ATOL = 1e-4, 1e-5
DISCS = ["bilinear", "zoh", "euler", "backward"]


@pytest.fixture(autouse=True)
def float64_by_default():
    """The references here are float64; restore the default afterwards (other modules share the process)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


# ------------------------------------------------------------------------------------------------ the matrices
def lmu(N, theta):
    """Legendre Memory Unit (MECHANISMS.md C, the form without D = diag((-1)^n)):
    A_nk = -(1/theta)(2n+1) (1 if k < n else (-1)^(n-k)), B_n = (2n+1)/theta."""
    n = torch.arange(N)
    r = (2 * n + 1).double()
    below = n[None, :] < n[:, None]
    sign = 1.0 - 2.0 * ((n[:, None] - n[None, :]).abs() % 2)
    return -r[:, None] * torch.where(below, torch.ones(N, N), sign) / theta, r / theta


def lagt(N):
    """LagT, beta = 1: A = I/2 - tril(ones) (the lower triangle includes the diagonal), B = 1."""
    return torch.eye(N) / 2 - torch.ones(N, N).tril(), torch.ones(N)


# FouT's boundary factor: the kernel (family_hippo.h) substitutes f(t - theta) ~ e.c, i.e. factor 1. The Fourier
# partial sum at the window's jump converges to the average (f(t) + f(t - theta))/2, so f(t - theta) ~ 2 e.c - f(t):
# factor 2, which is what the HiPPO authors' reference code has (hippo-code's transition('fourier'), theta = 1:
# A = Omega - 2 e e^T, B = 2 e, basis 1, sin_0 (a dummy), cos_1, sin_1, ...). Only factor 2 gives
# coefficients that reconstruct the window (test_fout_reconstruction_evidence below), and only for odd N: with an even
# N the last cosine has no sine partner, A is singular and the reconstruction stays poor (the reference code pairs
# every cosine, with a dummy sin_0). The kernel implements factor 1, so the oracle tests pin what it documents today
# and test_fourier_kernel_reconstructs_the_window is a strict xfail. When the kernel is fixed: set FOUT_BOUNDARY = 2.0
# (and the basis, if the even-N pairing changes) and remove that xfail.
FOUT_BOUNDARY = 1.0


def fourier(N, theta, boundary=FOUT_BOUNDARY):
    """FouT on the window [t - theta, t], x = (s - t + theta)/theta in [0, 1], basis phi = (1, sqrt2 cos 2 pi x,
    sqrt2 sin 2 pi x, sqrt2 cos 4 pi x, ...) (N odd or even: an even N ends on an unpaired cosine).
    c_n = (1/theta) int f phi_n dx gives c' = (1/theta)[e f(t) - e f(t - theta)] - (1/theta) Dphi c, where
    e = phi(0) = phi(1) and phi' = Dphi phi (cos_k' = -2 pi k sin_k, sin_k' = 2 pi k cos_k). With
    f(t - theta) ~ boundary e.c - (boundary - 1) f(t):  A = -(boundary e e^T + Dphi)/theta, B = boundary e/theta."""
    e = torch.zeros(N)
    e[0] = 1.0
    e[1::2] = math.sqrt(2.0)
    Dphi = torch.zeros(N, N)
    for k in range(1, N // 2 + 1):
        cos, sin = 2 * k - 1, 2 * k
        if sin < N:
            Dphi[cos, sin] = -2 * math.pi * k
            Dphi[sin, cos] = 2 * math.pi * k
    return -(boundary * torch.outer(e, e) + Dphi) / theta, boundary * e / theta


def fourier_reconstruct(c, L, theta):
    """f at the samples of the window (the last theta time units at dt = 1/L) from FouT coefficients c (batch, N)."""
    j = torch.arange(L)
    x = 1.0 - (L - j - 0.5) / L / theta
    keep = x >= 0
    x = x[keep]
    phi = [torch.ones_like(x)]
    for n in range(1, c.shape[1]):
        k = (n + 1) // 2
        phi.append(math.sqrt(2.0) * (torch.cos(2 * math.pi * k * x) if n % 2 else torch.sin(2 * math.pi * k * x)))
    return c @ torch.stack(phi), keep


MEASURES = {
    "ssm.hippo.lmu": lambda N, theta: lmu(N, theta),
    "ssm.hippo.lagt": lambda N, theta: lagt(N),
    "ssm.hippo.fourier": lambda N, theta: fourier(N, theta),
}


# ------------------------------------------------------------------------------------------------ discretisation
def discretize(A, B, dt, disc):
    I = torch.eye(A.shape[0])
    if disc == "euler":
        return I + dt * A, dt * B
    if disc == "backward":
        M = I - dt * A
        return torch.linalg.inv(M), dt * torch.linalg.solve(M, B)
    if disc == "bilinear":
        M = I - dt / 2 * A
        return torch.linalg.solve(M, I + dt / 2 * A), dt * torch.linalg.solve(M, B)
    if disc == "zoh":
        # Ad = exp(dt A), Bd = int_0^dt exp(s A) ds B (= A^-1 (exp(dt A) - I) B when A is invertible; FouT's A is
        # singular for even N, the unpaired cosine): the integral is the top-right block of exp(dt [[A, I], [0, 0]])
        N = A.shape[0]
        M = torch.zeros(2 * N, 2 * N)
        M[:N, :N] = A
        M[:N, N:] = I
        E = torch.matrix_exp(dt * M)
        return E[:N, :N], E[:N, N:] @ B
    raise ValueError(disc)


def recurrence(Ad, Bd, f):
    c = torch.zeros(f.shape[0], Ad.shape[0])
    for k in range(f.shape[1]):
        c = c @ Ad.T + f[:, k:k + 1] * Bd
    return c


def reference(kernel, f, N, disc, theta=1.0, eps=0.0, transpose=False):
    A, B = MEASURES[kernel](N, theta)
    if transpose:
        A = A.T
    dt = eps if eps > 0 else 1.0 / f.shape[1]
    return recurrence(*discretize(A, B, dt, disc), f)


# ------------------------------------------------------------------------------------------------ mechbench
def hippo_signal(batch, L, seed):
    """The family's kind of input: 8 sinusoids, amplitudes U(-1,1)/m, on t = (j + 0.5)/L; rounded to float32."""
    g = torch.Generator().manual_seed(seed)
    t = (torch.arange(L, dtype=torch.float64) + 0.5) / L
    f = torch.zeros(batch, L)
    for m in range(1, 9):
        a = (2 * torch.rand(batch, 1, generator=g) - 1) / m
        ph = 2 * math.pi * torch.rand(batch, 1, generator=g)
        f += a * torch.sin(2 * math.pi * m * t + ph)
    return f.float().double()


def run_eval(tmp_path, kernel, f, N, disc, theta=None, eps=None):
    """theta only for the kernels that read it (lmu, fourier: lagt's measure has no window); eps only when given."""
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as h:
        h["f"] = f.float().numpy()
    params = ["--param", f"rank={N}", "--param", f"disc={disc}"]
    if theta is not None:
        params += ["--param", f"theta={theta}"]
    if eps is not None:
        params += ["--param", f"eps={eps}"]
    proc = mechbench("eval", kernel, "--in", src, "--out", dst, *params, check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as h:
        out = torch.from_numpy(h["c"][...])
    assert out.dtype == torch.float32 and out.shape == (f.shape[0], N)
    return out.double()


def atol_for(want):
    """ATOL relative to the state's largest entry when it exceeds 1: the kernel's state is float32, so its rounding
    scales with the state. It only matters for forward Euler of FouT's barely damped rotations and of LMU at a
    coarse step, where |eig Ad| > 1 and the state grows like rho^L (up to 1e16 in CASES); everywhere else the
    states are O(1) and this is ATOL."""
    return ATOL * max(1.0, want.abs().max().item())


def assert_matches(got, want):
    torch.testing.assert_close(got, want, rtol=RTOL, atol=atol_for(want))


def violation(got, want):
    """max |got - want| / (atol + RTOL |want|): <= 1 passes assert_matches."""
    return ((got - want).abs() / (atol_for(want) + RTOL * want.abs())).max().item()


# (batch, L, N, theta, eps): n = 1, odd L and N, N = 1, even and odd N (FouT's unpaired cosine), windows shorter and
# longer than the signal, the default step 1/L and explicit steps
CASES = [
    (2, 1, 1, None, None),
    (3, 1, 6, 0.5, None),
    (2, 7, 3, None, None),
    (2, 7, 4, 2.0, 0.05),
    (3, 65, 8, 0.5, None),
    (1, 65, 9, None, 0.003),
    (2, 130, 33, 1.5, None),
    (2, 301, 16, 0.25, None),
]


@pytest.mark.parametrize("kernel", list(MEASURES))
@pytest.mark.parametrize("disc", DISCS)
@pytest.mark.parametrize("batch,L,N,theta,eps", CASES)
def test_hippo_lti_matches_torch(tmp_path, kernel, disc, batch, L, N, theta, eps):
    if kernel == "ssm.hippo.lagt":
        theta = None  # LagT has no window: do not pass a parameter it does not read
    f = hippo_signal(batch, L, seed=1000 * L + 10 * N + batch)
    out = run_eval(tmp_path, kernel, f, N, disc, theta, eps)
    want = reference(kernel, f, N, disc, theta or 1.0, eps or 0.0)
    assert want.abs().max() > 1e-3  # the state is not trivially zero
    assert_matches(out, want)


# ------------------------------------------------------------------------------------------------ the tests' teeth
@pytest.mark.parametrize("kernel", list(MEASURES))
def test_transposed_A_is_rejected(tmp_path, kernel):
    """A reference with A transposed (every other ingredient right) differs from the kernel far beyond the
    tolerance, while the right reference passes: the comparison above can fail."""
    f = hippo_signal(2, 130, seed=7)
    theta = None if kernel == "ssm.hippo.lagt" else 0.5
    out = run_eval(tmp_path, kernel, f, 8, "bilinear", theta)
    right = reference(kernel, f, 8, "bilinear", theta or 1.0)
    wrong = reference(kernel, f, 8, "bilinear", theta or 1.0, transpose=True)
    assert violation(out, right) <= 1.0
    assert violation(out, wrong) > 100.0
    with pytest.raises(AssertionError):
        assert_matches(out, wrong)


@pytest.mark.parametrize("kernel", list(MEASURES))
def test_each_disc_is_distinguishable(tmp_path, kernel):
    """At a coarse step the four discretisations give different coefficients, and the kernel's output for each disc
    matches that disc's reference only: the disc parameter is honoured and the tolerance resolves the difference.
    (LagT's only eigenvalue is -1/2: at dt = 1/33 bilinear and zoh differ by less than 5x the tolerance, hence a
    coarser explicit step for it.)"""
    L, N = 33, 6
    theta, eps = (None, 0.2) if kernel == "ssm.hippo.lagt" else (0.5, None)
    f = hippo_signal(2, L, seed=21)
    refs = {disc: reference(kernel, f, N, disc, theta or 1.0, eps or 0.0) for disc in DISCS}
    for disc in DISCS:
        out = run_eval(tmp_path, kernel, f, N, disc, theta, eps)
        for other, want in refs.items():
            if other == disc:
                assert violation(out, want) <= 1.0, (disc, other)
            else:
                assert violation(out, want) > 10.0, (disc, other)


@pytest.mark.parametrize("kernel", list(MEASURES))
def test_default_step_is_one_over_L(tmp_path, kernel):
    """eps = 0 means dt = 1/L (the signal spans one time unit): a reference with dt = 1/(L - 1) is caught."""
    L, N = 33, 6
    theta = None if kernel == "ssm.hippo.lagt" else 0.5
    f = hippo_signal(2, L, seed=22)
    out = run_eval(tmp_path, kernel, f, N, "bilinear", theta)
    assert violation(out, reference(kernel, f, N, "bilinear", theta or 1.0)) <= 1.0
    assert violation(out, reference(kernel, f, N, "bilinear", theta or 1.0, eps=1.0 / (L - 1))) > 10.0


# ------------------------------------------------------------------------------------------------ FouT's boundary
def fout_window_error(c, f, theta):
    rec, keep = fourier_reconstruct(c, f.shape[1], theta)
    return (torch.linalg.norm(rec - f[:, keep]) / torch.linalg.norm(f[:, keep])).item()


def test_fout_reconstruction_evidence():
    """Torch only, the evidence for FOUT_BOUNDARY's comment (ZOH at dt = 1/L on the family's kind of signal, the
    whole window compared): with the paper's factor 2 and odd N the coefficients reconstruct the window and the
    error falls with N (theta = 1: 37%, 7%, 4% at N = 9, 33, 65); with factor 1 (the kernel's A, B) it stays above
    30% whatever N (48%, 34%, 34%); with an even N (the unpaired last cosine) A is singular and even factor 2 stays
    above 20% (N = 64: 27%)."""
    L = 2000
    f = hippo_signal(3, L, seed=5)
    for theta in (1.0, 0.5):
        err = {}
        for boundary in (1.0, 2.0):
            for N in (9, 33, 64, 65):
                A, B = fourier(N, theta, boundary)
                err[boundary, N] = fout_window_error(recurrence(*discretize(A, B, 1.0 / L, "zoh"), f), f, theta)
        assert err[2.0, 65] < err[2.0, 33] < err[2.0, 9] and err[2.0, 65] < 0.15, err
        assert min(err[1.0, N] for N in (9, 33, 64, 65)) > 0.3, err
        assert err[2.0, 64] > 0.2, err
    for N in (6, 64):
        assert torch.linalg.svdvals(fourier(N, 1.0, 2.0)[0]).min() < 1e-9
        assert torch.linalg.svdvals(fourier(N + 1, 1.0, 2.0)[0]).min() > 1e-3


@pytest.mark.xfail(strict=True, reason="ssm.hippo.fourier uses f(t - theta) ~ e.c (FouT boundary factor 1, the "
                   "HiPPO reference code's is 2) and leaves the last cosine unpaired for even N: its coefficients "
                   "do not reconstruct the window")
@pytest.mark.parametrize("N", [64, 65])
@pytest.mark.parametrize("theta", [1.0, 0.5])
def test_fourier_kernel_reconstructs_the_window(tmp_path, theta, N):
    """The mechanism's defining property: the final coefficients reconstruct the last theta of the signal (the
    factor-2 reference at N = 65 reaches 4% (theta = 1) and 11% (theta = 0.5) here; the kernel 34% and 48% at N = 65,
    38% and 68% at N = 64)."""
    L = 2000
    f = hippo_signal(3, L, seed=5)
    out = run_eval(tmp_path, "ssm.hippo.fourier", f, N, "zoh", theta)
    assert fout_window_error(out, f, theta) < 0.15
