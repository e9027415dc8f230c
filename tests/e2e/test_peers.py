"""The PyTorch peers start fair (bench/peers/peerlib.py): huge-page malloc, AVX-512 ATen kernels when the CPU has
them, OpenBLAS's own kernel, thread caps, and say so in every row's message; --rounds gives one row per round."""

import os
import subprocess
import sys

import h5py
import numpy as np

from conftest import ROOT, mechbench

sys.path.insert(0, str(ROOT / "bench" / "peers"))
import peerlib  # noqa: E402  (imported by a test: it does not re-execute this process)

INI = """
[experiment]
name = peers
kernels = attention.softmax.flash
repetitions = 2
min_time = 0.001
check_rows = 4

[axes]
n = 32, 64
d = 8
heads = 2
batch = 1
threads = 1
"""


def avx512():
    return {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= set(open("/proc/cpuinfo").read().split())


def test_fair_environment():
    env = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0", "OPENBLAS_CORETYPE": "Haswell",
           "OMP_NUM_THREADS": "8", "PATH": "/bin"}
    out = peerlib.fair_environment(env, "2", True)
    assert out["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"
    assert out["ATEN_CPU_CAPABILITY"] == "avx512" and "OPENBLAS_CORETYPE" not in out
    assert out["MB_PEER_WAS_OPENBLAS_CORETYPE"] == "Haswell"
    assert (out["OMP_NUM_THREADS"], out["OPENBLAS_NUM_THREADS"], out["MKL_NUM_THREADS"]) == ("2", "2", "2")
    assert out["PATH"] == "/bin" and env["OPENBLAS_CORETYPE"] == "Haswell"  # the argument is not changed
    assert "ATEN_CPU_CAPABILITY" not in peerlib.fair_environment({}, "1", False)
    assert peerlib.fair_environment({"ATEN_CPU_CAPABILITY": "avx2"}, "1", True)["ATEN_CPU_CAPABILITY"] == "avx2"
    assert peerlib.fair_environment({}, "1", False)["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"
    assert peerlib._cli_threads(["x.h5", "--threads", "3"]) == "3"
    assert peerlib._cli_threads(["--threads=4"]) == "4" and peerlib._cli_threads(["x.h5"]) == "1"


def test_attention_peer_records_its_settings_and_rounds(tmp_path):
    ini = tmp_path / "p.ini"
    ini.write_text(INI)
    out = tmp_path / "p.h5"
    mechbench("sweep", ini, "--out", out, "--quiet")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GLIBC_TUNABLES", "ATEN_", "MB_PEER_"))}
    env.update(OPENBLAS_CORETYPE="Haswell", OMP_NUM_THREADS="7")
    proc = subprocess.run([sys.executable, str(ROOT / "bench/peers/torch_attention.py"), str(out), "--threads", "1",
                           "--reps", "2", "--min-time", "0.001", "--rounds", "2",
                           "--peers", "peer.torch.matmul_softmax,peer.torch.linear_elu"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    with h5py.File(out) as f:
        p = f["points"][...]
    peers = p[np.char.startswith(p["kernel"], b"peer.")]
    # 2 points x (matmul_softmax + linear_elu) x 2 rounds, round 0 of every point before round 1
    assert len(peers) == 8 and list(peers["round"]) == [0] * 4 + [1] * 4
    for row in peers:
        message = row["message"].decode()
        assert "malloc hugetlb=1 THP=" in message and "OpenBLAS " in message
        assert message.endswith("(CORETYPE was Haswell)")  # nothing cut off
        assert "threads 1: torch/OMP/BLAS/MKL 1/1/1/1;" in message and message.startswith("torch 1.")
        assert ("ATen AVX512" if avx512() else "ATen ") in message
        assert row["verdict"] == b"pass"
    # readers merge the peer's rounds as they do mechbench's: one row per point, 2 x 2 pooled samples
    tsv = [r.split("\t") for r in mechbench("export", out, "--format", "tsv").stdout.splitlines()]
    col = tsv[0].index("kernel"), tsv[0].index("repetitions")
    merged = [r for r in tsv[1:] if r[col[0]].startswith("peer.")]
    assert len(merged) == 4 and all(r[col[1]] == "4" for r in merged)
