"""End-to-end tests of the CLI: sweep -> HDF5 (h5py, h5dump) -> plot -> export; interrupted sweep + resume;
bad inputs (one line on stderr, non-zero exit, nothing lost or half-written)."""
import json
import os
import shutil
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BINARY, ROOT, mechbench

TINY_INI = """
[experiment]
name = tiny
kernels = attention.softmax.naive, attention.linear.elu
seed = 7
repetitions = 2
min_time = 0.001
check_rows = 32

[axes]
n = 16:64:x2
d = 16
heads = 2
threads = 1, 2
"""
TINY_POINTS = 3 * 2 * 2  # n values x threads x kernels


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("tiny")
    ini = tmp / "tiny.ini"
    ini.write_text(TINY_INI)
    out = tmp / "tiny.h5"
    proc = mechbench("sweep", ini, "--out", out)
    return tmp, ini, out, proc


def test_sweep_writes_the_schema(tiny):
    tmp, ini, out, proc = tiny
    assert "attention.linear.elu" in proc.stdout  # summary table
    assert proc.stdout.splitlines()[0].split() == ["kernel", "point", "median", "GFLOP/s", "err(own)", "err(exact)",
                                                  "verdict"]
    assert len(proc.stdout.splitlines()) == 1 + TINY_POINTS
    progress = [l for l in proc.stderr.splitlines() if l.startswith("[")]
    assert len(progress) == TINY_POINTS and progress[-1].startswith(f"[{TINY_POINTS}/{TINY_POINTS}] ")
    assert "| ETA " in progress[0]
    assert f"{TINY_POINTS} points measured, 0 already present" in proc.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["schema_version"] == 3
        for key in ("experiment", "ini", "created", "git_commit", "host", "cpu_model", "compiler", "cflags",
                    "hdf5_version", "seed"):
            assert key in f.attrs, key
        ini_attr = f.attrs["ini"]
        assert "tiny" in (ini_attr.decode() if isinstance(ini_attr, bytes) else ini_attr)
        points = f["points"][...]
        assert len(points) == TINY_POINTS
        for column in ("kernel", "n", "d", "heads", "batch", "causal", "threads", "time_median", "gflops",
                       "own_rel_l2", "exact_rel_l2", "verdict", "workspace_bytes", "point_id"):
            assert column in points.dtype.names, column
        assert set(points["verdict"]) == {b"pass"}
        assert (points["time_median"] > 0).all() and (points["gflops"] > 0).all()
        assert sorted(points["n"].tolist()) == sorted([16, 32, 64] * 4)
        linear = points[points["kernel"] == b"attention.linear.elu"]
        assert (linear["exact_rel_l2"] > 1e-2).all() and (linear["own_rel_l2"] < 1e-4).all()
        samples = f["samples"][...]
        assert len(samples) == 2 * TINY_POINTS
        assert set(samples["point_id"].tolist()) == set(points["point_id"].tolist())
        kernels = f["kernels"][...]
        assert {k.decode() for k in kernels["name"]} == {"attention.softmax.naive", "attention.linear.elu"}


def test_h5dump_reads_the_header(tiny):
    out = tiny[2]
    proc = subprocess.run(["h5dump", "-H", str(out)], capture_output=True, text=True)
    assert proc.returncode == 0
    for name in ("points", "samples", "kernels", "schema_version", "time_median"):
        assert name in proc.stdout


def test_sweep_quiet_and_resume_report(tmp_path):
    ini = tmp_path / "q.ini"
    ini.write_text(TINY_INI.replace("n = 16:64:x2", "n = 16").replace("threads = 1, 2", "threads = 1"))
    out = tmp_path / "q.h5"
    proc = mechbench("sweep", ini, "--out", out, "--quiet")
    assert not [l for l in proc.stderr.splitlines() if l.startswith("[")]  # no progress lines
    assert len(proc.stdout.splitlines()) == 1 + 2 and "err(own)" in proc.stdout  # the table stays
    assert "2 points measured, 0 already present" in proc.stderr
    proc = mechbench("sweep", ini, "--out", out, "--resume")
    assert "resume: 2 of 2 points already in" in proc.stderr
    assert "0 points measured, 2 already present" in proc.stderr
    assert proc.stdout == ""  # nothing measured: no table


def test_plot_writes_png_and_svg(tiny):
    tmp, _, out, _ = tiny
    proc = mechbench("plot", out, "--out", tmp / "p", "--crossover", "attention.softmax.naive,attention.linear.elu")
    pngs = sorted(tmp.glob("p_*.png"))
    assert {p.name for p in pngs} >= {"p_time.png", "p_gflops.png", "p_error.png", "p_memory.png"}
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 2000
        assert str(png) in proc.stdout
    assert (tmp / "p_time.svg").read_text().lstrip().startswith("<?xml")
    assert "crossover" in proc.stdout
    assert not (tmp / "p_pareto.png").exists()  # asked for by name only
    proc = mechbench("plot", out, "--out", tmp / "q", "--y", "pareto")
    assert (tmp / "q_pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp / "q_time.png").exists()
    mechbench("plot", out, "--out", tmp / "w", "--y", "time", "--where", "threads=1", "--kernels", "attention.linear.*")
    assert (tmp / "w_time.png").exists()
    proc = mechbench("plot", out, "--out", tmp / "z", "--where", "threads=3", check=False)
    assert proc.returncode == 1 and "matching --where" in proc.stderr and not list(tmp.glob("z_*"))
    proc = mechbench("plot", out, "--out", tmp / "z", "--where", "nope=3", check=False)
    assert proc.returncode == 2 and "unknown axis 'nope'" in proc.stderr


def test_export_formats(tiny):
    tmp, _, out, _ = tiny
    tsv = mechbench("export", out, "--format", "tsv").stdout.strip().splitlines()
    header = tsv[0].split("\t")
    assert "kernel" in header and "time_median" in header and len(tsv) == 1 + TINY_POINTS
    csv = mechbench("export", out, "--format", "csv").stdout.strip().splitlines()
    assert len(csv) == 1 + TINY_POINTS
    doc = json.loads(mechbench("export", out, "--format", "json").stdout)
    assert "context" in doc and "benchmarks" in doc
    iterations = [b for b in doc["benchmarks"] if b["run_type"] == "iteration"]
    assert len(iterations) == 2 * TINY_POINTS
    assert all(b["time_unit"] == "ns" and b["real_time"] > 0 for b in iterations)


def test_run_prints_time_gflops_error():
    proc = mechbench("run", "attention.linear.elu", "--n", 512, "--d", 32, "--reps", 2, "--min-time", 0.01)
    for word in ("time", "GFLOP/s", "rel_l2", "pass"):
        assert word in proc.stdout
    row = json.loads(mechbench("run", "attention.softmax.naive", "--n", 33, "--d", 8, "--causal", "--reps", 2,
                               "--min-time", 0.001, "--json").stdout)
    assert row["kernel"] == "attention.softmax.naive" and row["n"] == 33 and row["causal"] == 1
    assert row["verdict"] == "pass" and len(row["samples"]) == 2 and row["own_rel_l2"] < 1e-4


def test_list_and_describe():
    listing = mechbench("list").stdout
    assert "attention.softmax.naive" in listing and "attention.linear.elu" in listing
    text = mechbench("describe", "attention.linear.elu").stdout
    for word in ("elu", "approximates", "(batch, heads, n, d)", "O(n d^2)", "source"):
        assert word in text, word
    for cmd in ("list", "describe", "run", "sweep", "eval", "plot", "export"):
        assert "usage" in mechbench(cmd, "--help").stdout


# ------------------------------------------------------------------------------------ interrupted sweeps
RESUME_INI = """
[experiment]
name = resume
kernels = attention.softmax.naive, attention.linear.elu
repetitions = 2
min_time = 0.05
check_rows = 16

[axes]
n = 64:4096:x2
d = 32
threads = 1
"""
RESUME_POINTS = 7 * 2


def _point_keys(path):
    with h5py.File(path, "r") as f:
        p = f["points"][...]
    return [(k, n, t) for k, n, t in zip(p["kernel"].tolist(), p["n"].tolist(), p["threads"].tolist())]


def _start_and_kill(ini, out, sig, after_points):
    proc = subprocess.Popen([str(BINARY), "sweep", str(ini), "--out", str(out)], stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    seen = 0
    for line in proc.stderr:
        if line.startswith("["):
            seen += 1
        if seen >= after_points:
            proc.send_signal(sig)
            break
    rest = proc.stderr.read()
    proc.wait(timeout=120)
    return proc.returncode, rest


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_killed_sweep_resumes_with_each_point_once(tmp_path, sig):
    ini = tmp_path / "resume.ini"
    ini.write_text(RESUME_INI)
    out = tmp_path / "resume.h5"
    rc, rest = _start_and_kill(ini, out, sig, after_points=3)
    if sig == signal.SIGINT:
        assert rc == 130 and "--resume" in rest
    else:
        assert rc == -signal.SIGKILL
    partial = _point_keys(out)
    assert 3 <= len(partial) < RESUME_POINTS
    assert len(set(partial)) == len(partial)
    proc = mechbench("sweep", ini, "--out", out, check=False)
    assert proc.returncode != 0 and "--resume" in proc.stderr  # never silently overwritten
    assert _point_keys(out) == partial
    proc = mechbench("sweep", ini, "--out", out, "--resume")
    assert f"{len(partial)} of {RESUME_POINTS} points already" in proc.stderr
    final = _point_keys(out)
    assert len(final) == RESUME_POINTS and len(set(final)) == RESUME_POINTS
    assert final[: len(partial)] == partial
    with h5py.File(out, "r") as f:
        assert set(f["points"]["verdict"].tolist()) == {b"pass"}
        assert len(f["samples"]) == 2 * RESUME_POINTS


def test_force_does_not_replace_a_file_a_sweep_is_writing(tmp_path):
    """issue 13, item 5: `sweep --force` on the file of a running sweep unlinked it under that sweep (both exit 0)."""
    ini = tmp_path / "resume.ini"
    ini.write_text(RESUME_INI)
    out = tmp_path / "resume.h5"
    first = subprocess.Popen([str(BINARY), "sweep", str(ini), "--out", str(out)], stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    for line in first.stderr:  # the first point is written: the file exists and is held
        if line.startswith("["):
            break
    second = mechbench("sweep", ini, "--out", out, "--force", check=False)
    first.stderr.read()
    assert first.wait(timeout=120) == 0
    assert_clean_failure(second, "in use by another mechbench process")
    keys = _point_keys(out)
    assert len(keys) == RESUME_POINTS and len(set(keys)) == RESUME_POINTS
    assert not list(tmp_path.glob("*.tmp.*"))


def test_full_disk_leaves_no_junk_row_and_resume_completes(tmp_path):
    """issue 13, item 3: with the disk full the sweep left an all-zero row that --resume kept (97 rows for 96
    points). A row is visible only once committed; resume cuts off the uncommitted tail; one line on stderr."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        ini = tmp_path / "full.ini"
        ini.write_text(TINY_INI.replace("n = 16:64:x2", "n = 16:128:x2\nbatch = 1, 2, 3"))
        out = disk / "full.h5"
        first = mechbench("sweep", ini, "--out", out, check=False)
        assert_clean_failure(first, "No space left on device")
        rows = mechbench("export", out, "--format", "csv").stdout.strip().splitlines()[1:]
        assert all(",pass," in r for r in rows)  # no junk row shown
        subprocess.run(["mount", "-o", "remount,size=4m", str(disk)], check=True)
        mechbench("sweep", ini, "--out", out, "--resume")
        expected = 4 * 2 * 3 * 2  # n x threads x batch x kernels
        with h5py.File(out, "r") as f:
            p = f["points"][...]
            keys = set(zip(p["kernel"].tolist(), p["n"].tolist(), p["threads"].tolist(), p["batch"].tolist()))
            assert len(p) == expected and len(keys) == expected
            assert set(p["verdict"].tolist()) == {b"pass"}
            assert f["points"].attrs["committed_rows"] == expected
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_resume_refuses_another_experiment(tmp_path, tiny):
    """issue 13, item 6: --resume with another experiment (name, seed) appended to the file of experiment 'tiny'."""
    out = tmp_path / "tiny.h5"
    out.write_bytes(tiny[2].read_bytes())
    before = out.read_bytes()
    for old, new in (("name = tiny", "name = other"), ("seed = 7", "seed = 8")):
        ini = tmp_path / "other.ini"
        ini.write_text(TINY_INI.replace(old, new))
        assert_clean_failure(mechbench("sweep", ini, "--out", out, "--resume", check=False),
                             "holds experiment 'tiny' (seed 7)", "same experiment only")
    assert out.read_bytes() == before
    mechbench("sweep", tiny[1], "--out", out, "--resume")  # the same experiment still resumes


def test_budgets_record_skipped_points(tmp_path):
    ini = tmp_path / "budget.ini"
    ini.write_text(TINY_INI.replace("n = 16:64:x2", "n = 16, 4096") + "\n")
    out = tmp_path / "budget.h5"
    mechbench("sweep", ini, "--out", out, "--max-mem", "1M")
    with h5py.File(out, "r") as f:
        p = f["points"][...]
    big = p[p["n"] == 4096]
    assert len(big) == 4 and set(big["verdict"].tolist()) == {b"skipped-budget"}
    assert all(b"max_mem" in m for m in big["message"].tolist())
    assert set(p[p["n"] == 16]["verdict"].tolist()) == {b"pass"}


def test_time_budget_skips_points_predicted_to_overrun(tmp_path):
    ini = tmp_path / "time.ini"
    ini.write_text("[experiment]\nname = t\nkernels = attention.softmax.naive\nrepetitions = 2\nmin_time = 0.001\n"
                   "budget = 1\n[axes]\nn = 64, 16384\nd = 64\n")
    out = tmp_path / "time.h5"
    mechbench("sweep", ini, "--out", out)
    with h5py.File(out, "r") as f:
        p = f["points"][...]
    assert p["verdict"].tolist() == [b"pass", b"skipped-budget"]
    assert b"budget" in p["message"][1]


# ------------------------------------------------------------------------------------ bad input
def assert_clean_failure(proc, *words):
    assert proc.returncode != 0, proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])


@pytest.mark.parametrize("args,words", [
    (["run", "attention.nope"], ["unknown kernel", "attention.nope"]),
    (["run", "attention.softmax.naive", "--n", "0"], ["n = 0", "allowed"]),
    (["run", "attention.softmax.naive", "--d", "-3"], ["--d"]),
    (["run", "attention.softmax.naive", "--heads", "0"], ["heads = 0"]),
    (["run", "attention.softmax.naive", "--batch", "0"], ["batch = 0"]),
    (["run", "attention.softmax.naive", "--threads", "0"], ["threads"]),
    (["run", "attention.softmax.naive", "--n", "1e30"], ["--n"]),
    (["run", "attention.softmax.naive", "--n", "abc"], ["--n", "abc"]),
    (["run", "attention.softmax.naive", "--n", "4000000"], ["skipped-budget", "max_mem"]),
    (["run", "attention.softmax.naive", "--rank", "4"], ["does not read axis rank"]),
    (["run", "attention.linear.elu", "--causal"], ["unsupported", "non-causal"]),
    (["run", "attention.softmax.naive", "--bogus", "1"], ["unknown option --bogus"]),
    (["run", "attention.softmax.naive", "--param", "qk_std=0"], ["qk_std=0", "not allowed", "[0.001, 16]"]),
    (["run", "attention.linear.elu", "--param", "no_such_key=1"],
     ["unknown parameter 'no_such_key'", "allowed: qk_std, inputs"]),
    (["run", "attention.performer", "--param", "features=sideways"], ["features=sideways", "orthogonal, iid"]),
    (["eval", "attention.softmax.naive", "--in", "x.h5", "--out", "y.h5", "--param", "rounds=2"],
     ["unknown parameter 'rounds'"]),
    # issue 13, item 10: one number syntax everywhere (decimal; no hex, nan or inf), a BOOL axis takes 0 or 1
    (["run", "attention.linear.elu", "--n", "0x40"], ["--n '0x40' is not a number"]),
    (["run", "attention.linear.elu", "--n", "inf"], ["--n 'inf' is not a number"]),
    (["run", "attention.linear.elu", "--causal", "2"], ["--causal 2: expected 0 or 1"]),
    (["run", "attention.linear.elu", "--param", "threads=nan"], ["--param threads: 'nan' is not a number"]),
    (["run", "attention.linear.elu", "--param", "qk_std=0x1"], ["qk_std=0x1", "not allowed"]),
    (["run", "attention.linear.elu", "--max-mem", "1T"], ["--max-mem 1T exceeds this machine's memory"]),  # item 11
    (["describe", "nope"], ["unknown kernel"]),
    (["list", "--family", "nope"], ["unknown family"]),
    (["frobnicate"], ["unknown command"]),
])
def test_bad_cli_input(args, words):
    assert_clean_failure(mechbench(*args, check=False), *words)


@pytest.mark.parametrize("text,words", [
    ("[experiment]\nname = x\nkernels = nothing.*\n[axes]\nn = 8\n", ["matches no kernel"]),
    ("[experiment]\nname = x\nkernels = attention.linear.elu\n[axes]\nnn = 8\n", [":5:", "nn"]),
    ("[experiment]\nname = x\nkernels = attention.linear.elu\n[axes]\nn = 8:2:x2\n", [":5:"]),
    ("[experiment]\nname = x\nrepetitions = 0\nkernels = attention.linear.elu\n", [":3:", "repetitions"]),
    ("[experiment]\nname = x\nkernels = attention.linear.elu\nthis is not ini\n", [":4:"]),
    ("[experiment]\nkernels = attention.linear.elu\n", ["name"]),
    ("[experiment]\nname = x\nkernels = attention.linear.elu\n[axes]\nd = 100000\n", ["d = 100000"]),
    ("[experiment]\nname = x\nmax_mem = 1T\nkernels = attention.linear.elu\n", [":3:", "exceeds this machine's memory"]),
    ("[experiment]\nname = x\nkernels = attention.linear.elu\n[axes]\nparams = nope=1\n",
     [":5:", "unknown parameter 'nope'", "qk_std"]),
    ("[experiment]\nname = x\n[sweep p]\nkernels = attention.performer\nparams = features=sideways\n",
     [":5:", "features=sideways", "orthogonal, iid"]),
])
def test_bad_ini(tmp_path, text, words):
    ini = tmp_path / "bad.ini"
    ini.write_text(text)
    out = tmp_path / "bad.h5"
    assert_clean_failure(mechbench("sweep", ini, "--out", out, check=False), *words)
    assert not out.exists()


def test_bad_files(tmp_path, tiny):
    ini = tiny[1]
    text = tmp_path / "text.h5"
    text.write_text("this is not HDF5\n")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(tiny[2].read_bytes()[:1500])
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    for bad in (text, truncated, foreign):
        before = bad.read_bytes()
        assert_clean_failure(mechbench("sweep", ini, "--out", bad, "--resume", check=False), bad.name)
        assert_clean_failure(mechbench("plot", bad, "--out", tmp_path / "p", check=False), bad.name)
        assert_clean_failure(mechbench("export", bad, "--format", "tsv", check=False), bad.name)
        assert_clean_failure(mechbench("eval", "attention.softmax.naive", "--in", bad, "--out", tmp_path / "o.h5",
                                       check=False))
        assert bad.read_bytes() == before
    assert not list(tmp_path.glob("p_*")) and not (tmp_path / "o.h5").exists()
    assert_clean_failure(mechbench("plot", tmp_path / "missing.h5", check=False), "missing.h5")
    assert_clean_failure(mechbench("sweep", ini, "--out", "/nonexistent/dir/x.h5", check=False), "/nonexistent/dir")


def test_eval_missing_dataset(tmp_path):
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        f["q"] = np.zeros((1, 1, 4, 4), np.float32)
        f["k"] = np.zeros((1, 1, 4, 4), np.float32)
    assert_clean_failure(mechbench("eval", "attention.softmax.naive", "--in", src, "--out", tmp_path / "o.h5",
                                   check=False), "'v'")
    assert not (tmp_path / "o.h5").exists()


def test_output_onto_its_own_input_is_refused(tmp_path, tiny):
    """issue 13, item 6: `export F.h5 --out F.h5` replaced the results with text; `eval --in x --out x` the input."""
    results = tmp_path / "good.h5"
    results.write_bytes(tiny[2].read_bytes())
    before = results.read_bytes()
    assert_clean_failure(mechbench("export", results, "--format", "csv", "--out", tmp_path / "." / "good.h5",
                                   check=False), "is the results file itself")
    src = tmp_path / "in.h5"
    with h5py.File(src, "w") as f:
        for name in "qkv":
            f[name] = np.zeros((1, 1, 4, 4), np.float32)
    src_before = src.read_bytes()
    assert_clean_failure(mechbench("eval", "attention.softmax.naive", "--in", src, "--out", src, check=False),
                         "is the input file itself")
    assert results.read_bytes() == before and src.read_bytes() == src_before


def test_eval_refuses_nonfinite_and_oversized_inputs(tmp_path):
    """issue 13, items 1 and 9: NaN in q ran (exit 0); a 1.9 KB file declaring huge chunked datasets overflowed
    the reader's size arithmetic. Non-finite values are refused unless asked for; declared sizes are checked
    against the limits before anything is allocated."""
    src, out = tmp_path / "nan.h5", tmp_path / "o.h5"
    q = np.ones((1, 1, 4, 8), np.float32)
    q[0, 0, 1, 2] = np.nan
    with h5py.File(src, "w") as f:
        f["q"], f["k"], f["v"] = q, np.zeros_like(q), np.zeros_like(q)
    assert_clean_failure(mechbench("eval", "attention.linear.elu", "--in", src, "--out", out, check=False),
                         "'q' holds 1 NaN or Inf values (the first at element 10)", "--allow-nonfinite")
    assert not out.exists()
    mechbench("eval", "attention.linear.elu", "--in", src, "--out", out, "--allow-nonfinite")
    assert out.exists()
    huge = tmp_path / "huge.h5"
    with h5py.File(huge, "w") as f:
        for name, shape in (("q", (65536, 1024, 16777216, 4096)), ("k", (1, 1, 4, 8)), ("v", (1, 1, 4, 8))):
            f.create_dataset(name, shape=shape, dtype="f4", chunks=(1,) * (len(shape) - 1) + (8,))
    assert huge.stat().st_size < 20000
    assert_clean_failure(mechbench("eval", "attention.softmax.naive", "--in", huge, "--out", tmp_path / "h.h5",
                                   check=False), "dataset 'q' is too large")
    big = tmp_path / "big.h5"  # within the reader's cap, beyond the memory limit: refused before reading
    with h5py.File(big, "w") as f:
        for name in "qkv":
            f.create_dataset(name, shape=(64, 64, 65536, 64), dtype="f4", chunks=(1, 1, 1, 64))
    assert_clean_failure(mechbench("eval", "attention.softmax.naive", "--in", big, "--out", tmp_path / "b.h5",
                                   check=False), "more than --max-mem")
    assert not (tmp_path / "h.h5").exists() and not (tmp_path / "b.h5").exists()


def test_plot_on_a_full_disk_fails_and_leaves_nothing(tiny, tmp_path):
    """issue 13, item 4: on a full disk `plot` exited 0 with eight 0-byte images."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        (disk / "fill").write_bytes(b"\0" * 60 * 1024)
        proc = mechbench("plot", tiny[2], "--out", disk / "p", "--y", "time", check=False)
        assert_clean_failure(proc, "is the disk full?")
        assert sorted(x.name for x in disk.iterdir()) == ["fill"]
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_plot_without_gnuplot(tiny, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = dict(os.environ, PATH=str(bindir))
    proc = mechbench("plot", tiny[2], "--out", tmp_path / "p", env=env, check=False)
    assert_clean_failure(proc, "gnuplot")
    assert not list(tmp_path.glob("p_*"))


def test_params_are_declared_and_normalised(tmp_path):
    """Two spellings of one point are one point: --resume finds them all (params stored sorted, defaults filled)."""
    base = "[experiment]\nname = p\nkernels = attention.linear.elu\nrepetitions = 2\nmin_time = 0.001\n" \
           "[axes]\nn = 16, 32\nd = 8\n"
    first, second = tmp_path / "first.ini", tmp_path / "second.ini"
    first.write_text(base + "params = qk_std=1.0\n")
    second.write_text(base + "params = inputs=normal; qk_std=1\n")
    out = tmp_path / "p.h5"
    mechbench("sweep", first, "--out", out, "--quiet")
    with h5py.File(out, "r") as f:
        assert f["points"]["params"].tolist() == [b"inputs=normal;qk_std=1"] * 2
    proc = mechbench("sweep", second, "--out", out, "--resume")
    assert "2 of 2 points already" in proc.stderr, proc.stderr
    with h5py.File(out, "r") as f:
        assert len(f["points"]) == 2
    described = mechbench("describe", "attention.performer").stdout
    assert "features" in described and "one of orthogonal, iid (default orthogonal)" in described
