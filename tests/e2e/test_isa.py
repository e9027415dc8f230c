"""Run-time ISA dispatch from the CLI: MB_ISA picks the kernel copy, the results file records it (root attributes
isa and isa_supported), a bad MB_ISA is refused with one line and exit 2, and --resume refuses a file measured
with another ISA (files from before the attribute are accepted)."""
import os

import h5py

from conftest import mechbench

INI = """
[experiment]
name = isa
kernels = attention.softmax.flash, ssm.rwkv.wkv_stable
seed = 3
repetitions = 2
min_time = 0.001
check_rows = 16

[axes]
n = 64, 128
d = 16
threads = 1
"""


def env(**kw):
    e = dict(os.environ)
    e.pop("MB_ISA", None)
    e.update(kw)
    return e


def attr(f, key):
    v = f.attrs[key]
    return v.decode() if isinstance(v, bytes) else str(v)


def supported():
    out = mechbench("describe", "attention.softmax.flash", env=env()).stdout
    line = next(l for l in out.splitlines() if l.startswith("isa "))
    return line.split()[1]


def test_portable_sweep_records_isa_portable(tmp_path):
    ini = tmp_path / "isa.ini"
    ini.write_text(INI)
    out = tmp_path / "isa.h5"
    proc = mechbench("sweep", ini, "--out", out, env=env(MB_ISA="portable"))
    assert "attention.softmax.flash" in proc.stdout
    with h5py.File(out, "r") as f:
        assert attr(f, "isa") == "portable"
        assert attr(f, "isa_supported").split(",")[0] == "portable"
        assert set(f["points"]["verdict"]) == {b"pass"}


def test_default_is_the_best_the_cpu_supports(tmp_path):
    ini = tmp_path / "isa.ini"
    ini.write_text(INI)
    out = tmp_path / "best.h5"
    mechbench("sweep", ini, "--out", out, env=env())
    with h5py.File(out, "r") as f:
        assert attr(f, "isa") == attr(f, "isa_supported").split(",")[-1] == supported()


def test_unknown_isa_exits_2_with_one_line():
    proc = mechbench("list", check=False, env=env(MB_ISA="foo"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr == "mechbench: MB_ISA=foo is unknown (allowed: portable, avx2, avx512)\n"


def test_unsupported_isa_exits_2_with_one_line():
    best = supported()
    if best == "avx512":  # nothing is unsupported here: the message is covered by tests/unit/test_isa.c
        return
    proc = mechbench("list", check=False, env=env(MB_ISA="avx512"))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "MB_ISA=avx512 is not supported by this CPU (allowed here: portable" in lines[0]


def test_resume_refuses_another_isa_and_accepts_files_without_the_attribute(tmp_path):
    ini = tmp_path / "isa.ini"
    ini.write_text(INI)
    out = tmp_path / "resume.h5"
    mechbench("sweep", ini, "--out", out, env=env(MB_ISA="portable"))
    best = supported()
    if best != "portable":
        proc = mechbench("sweep", ini, "--out", out, "--resume", check=False, env=env())
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert "isa=portable" in lines[0] and f"isa={best}" in lines[0]
    mechbench("sweep", ini, "--out", out, "--resume", env=env(MB_ISA="portable"))  # same ISA: nothing to do
    with h5py.File(out, "r+") as f:
        n = len(f["points"])
        del f.attrs["isa"]
    mechbench("sweep", ini, "--out", out, "--resume", env=env())
    with h5py.File(out, "r") as f:
        assert len(f["points"]) == n  # every point was already there
