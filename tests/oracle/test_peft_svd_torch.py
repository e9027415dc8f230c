"""peft.svd.delta against PyTorch: torch.linalg.svd's truncated reconstruction U[:, :r] diag(S[:r]) Vh[:r] of a
fine-tuning delta (d_out, d_in), through `mechbench eval` (input `delta`; outputs out, U, S, Vh with torch's names),
at odd shapes, r = 1 and r = min(d_out, d_in)."""
import h5py
import pytest
import torch

from conftest import mechbench

SHAPES = [(1, 7, 1), (33, 17, 1), (17, 33, 17), (257, 64, 10), (96, 96, 33)]


def make_delta(d_out, d_in, seed, decay=0.85):
    """Q1 diag(decay^i) Q2^T with random orthonormal Q1, Q2: distinct singular values, a well-defined truncation."""
    g = torch.Generator().manual_seed(seed)
    k = min(d_out, d_in)
    q1, _ = torch.linalg.qr(torch.randn(d_out, k, generator=g, dtype=torch.float64))
    q2, _ = torch.linalg.qr(torch.randn(d_in, k, generator=g, dtype=torch.float64))
    s = decay ** torch.arange(k, dtype=torch.float64)
    return (q1 * s) @ q2.T


def run_eval(tmp_path, delta, r):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        f["delta"] = delta.float().numpy()
    proc = mechbench("eval", "peft.svd_delta", "--in", src, "--out", dst, "--rank", str(r), check=False)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(dst, "r") as f:
        return {name: torch.from_numpy(f[name][...]).double() for name in ("out", "U", "S", "Vh")}


@pytest.mark.parametrize("shape", SHAPES)
def test_svd_delta_matches_torch(tmp_path, shape):
    d_out, d_in, r = shape
    delta = make_delta(d_out, d_in, seed=sum(shape))
    got = run_eval(tmp_path, delta, r)
    U, S, Vh = torch.linalg.svd(delta.float().double(), full_matrices=False)
    want = U[:, :r] @ torch.diag(S[:r]) @ Vh[:r]
    torch.testing.assert_close(got["out"], want, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(got["S"], S[:r], rtol=1e-5, atol=1e-6)
    assert got["U"].shape == (d_out, r) and got["Vh"].shape == (r, d_in)
    # the singular vectors agree up to one sign per pair (u_i, v_i)
    signs = torch.sign((got["U"] * U[:, :r]).sum(0))
    torch.testing.assert_close(got["U"] * signs, U[:, :r], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(got["Vh"] * signs[:, None], Vh[:r], rtol=1e-4, atol=1e-4)
    # Eckart-Young: the residual is the energy of the dropped singular values
    residual = torch.linalg.norm(delta.float().double() - got["out"])
    tail = S[r:].pow(2).sum().sqrt()
    if tail > 1e-3:
        assert abs(residual / tail - 1) < 1e-4
    else:
        assert residual < 1e-5


def test_wrong_rank_is_caught(tmp_path):
    delta = make_delta(40, 30, seed=3)
    got = run_eval(tmp_path, delta, 5)
    U, S, Vh = torch.linalg.svd(delta.float().double(), full_matrices=False)
    assert not torch.allclose(got["out"], U[:, :4] @ torch.diag(S[:4]) @ Vh[:4], rtol=1e-4, atol=1e-5)


def test_too_large_rank_is_refused(tmp_path):
    src, dst = tmp_path / "in.h5", tmp_path / "out.h5"
    with h5py.File(src, "w") as f:
        f["delta"] = make_delta(8, 6, seed=1).float().numpy()
    proc = mechbench("eval", "peft.svd_delta", "--in", src, "--out", dst, "--rank", "7", check=False)
    assert proc.returncode != 0 and "rank r = 7" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not dst.exists()
