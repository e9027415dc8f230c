"""Interleaved rounds (sweep --rounds, `rounds =`): one /points row per (kernel, point, round) in round order,
resume by round, readers (export) merging the rounds of a point over the pooled samples. No wall-clock assertions."""

import json

import h5py
import numpy as np
import pytest

from conftest import mechbench

INI = """
[experiment]
name = rounds
kernels = attention.softmax.flash, attention.linear.elu
repetitions = 2
min_time = 0.001
rounds = 3
check_rows = 4

[axes]
n = 64, 128
d = 16
heads = 1
batch = 1
threads = 1
"""


def raw_rows(path):
    with h5py.File(path) as f:
        p = f["points"][...]
        s = f["samples"][...]
    return p, s


def test_rounds_are_interleaved_rows_and_readers_merge_them(tmp_path):
    ini = tmp_path / "r.ini"
    ini.write_text(INI)
    out = tmp_path / "r.h5"
    mechbench("sweep", ini, "--out", out, "--quiet")
    p, s = raw_rows(out)
    # all four (kernel, n) items once, then all again: rounds 0 0 0 0 1 1 1 1 2 2 2 2
    assert list(p["round"]) == [0] * 4 + [1] * 4 + [2] * 4
    first = [(r["kernel"], r["n"]) for r in p[:4]]
    assert [(r["kernel"], r["n"]) for r in p[4:8]] == first == [(r["kernel"], r["n"]) for r in p[8:]]
    assert all(p["repetitions"] == 2) and len(s) == 24

    # export shows one row per point, its times from the 3 x 2 pooled samples
    rows = [line.split("\t") for line in mechbench("export", out, "--format", "tsv").stdout.splitlines()]
    head, body = rows[0], rows[1:]
    col = {name: head.index(name) for name in ("point_id", "kernel", "n", "repetitions", "time_median", "time_min",
                                               "time_max", "round")}
    assert len(body) == 4
    for r in body:
        assert int(r[col["repetitions"]]) == 6 and int(r[col["round"]]) == 2  # the last round's row leads
        ids = [int(x["point_id"]) for x in p if x["kernel"].decode() == r[col["kernel"]] and x["n"] == int(r[col["n"]])]
        pooled = np.sort(s["seconds"][np.isin(s["point_id"], ids)])
        assert len(pooled) == 6
        assert float(r[col["time_median"]]) == pytest.approx(np.median(pooled), rel=1e-12)  # export: 15 digits
        assert float(r[col["time_min"]]) == pytest.approx(pooled[0], rel=1e-12)
        assert float(r[col["time_max"]]) == pytest.approx(pooled[-1], rel=1e-12)
    # the json export lists the pooled samples of each point
    doc = json.loads(mechbench("export", out, "--format", "json").stdout)
    assert sum(b["run_type"] == "iteration" for b in doc["benchmarks"]) == 24

    # --resume --rounds 4 measures round 3 only; plain --resume measures nothing
    proc = mechbench("sweep", ini, "--out", out, "--resume", "--rounds", "4", "--quiet")
    assert "4 points measured, 12 already present" in proc.stderr
    p, _ = raw_rows(out)
    assert list(p["round"][12:]) == [3] * 4
    proc = mechbench("sweep", ini, "--out", out, "--resume", "--quiet")
    assert "0 points measured" in proc.stderr or "12 already" in proc.stderr
    assert len(raw_rows(out)[0]) == 16


def test_rounds_out_of_range_are_refused(tmp_path):
    ini = tmp_path / "r.ini"
    ini.write_text(INI)
    for bad in ("0", "101", "-1"):
        proc = mechbench("sweep", ini, "--out", tmp_path / "x.h5", "--rounds", bad, check=False)
        assert proc.returncode == 2 and f"--rounds {bad}" in proc.stderr.replace("'", "")
        assert len(proc.stderr.strip().splitlines()) == 1
    ini.write_text(INI.replace("rounds = 3", "rounds = 0"))
    proc = mechbench("sweep", ini, "--out", tmp_path / "x.h5", check=False)
    assert proc.returncode == 2 and "rounds = 0 is out of range (1..100)" in proc.stderr
    assert not (tmp_path / "x.h5").exists()
