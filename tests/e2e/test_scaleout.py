"""Scale-out end to end: `mpirun -np 3 mechbench-mpi sweep` gives the serial sweep's (kernel, point) rows, each
once; a worker killed mid-sweep leaves a file that --resume completes; shards 1/2 + 2/2 merged equal the serial
sweep; merging different experiments or one shard twice is refused with one line and no output file."""
import os
import signal
import subprocess
import time

import h5py
import pytest

from conftest import ROOT, mechbench

MPI_BINARY = ROOT / "mechbench-mpi"
MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe"]

INI = """
[experiment]
name = scaleout
kernels = attention.softmax.naive, attention.linear.elu
seed = 11
repetitions = 2
min_time = 0.001
check_rows = 8

[axes]
n = 16:128:x2
d = 16
heads = 1, 2
threads = 1
"""
POINTS = 4 * 2 * 2  # n x heads x kernels
AXES = ("n", "d", "heads", "batch", "rank", "causal", "threads", "block")


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def keys(path, measured_only=True, locking=True):
    """(kernel, axes..., params) of every row; rows marked lost are not measurements."""
    with h5py.File(path, "r", locking=locking) as f:
        n = int(f["points"].attrs.get("committed_rows", len(f["points"])))
        p = f["points"][:n]
    out = []
    for r in p:
        if measured_only and r["message"].decode().startswith("lost: "):
            continue
        out.append((r["kernel"].decode(),) + tuple(int(r[a]) for a in AXES) + (r["params"].decode(),))
    return out


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("scaleout")
    ini = tmp / "x.ini"
    ini.write_text(INI)
    out = tmp / "serial.h5"
    mechbench("sweep", ini, "--out", out, "--quiet")
    k = keys(out)
    assert len(k) == POINTS and len(set(k)) == POINTS
    return tmp, ini, set(k)


def mpi(*args, np=3, timeout=300):
    return subprocess.run(MPIRUN + ["-np", str(np), str(MPI_BINARY), *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


def test_shards_merged_equal_the_serial_sweep(serial):
    tmp, ini, want = serial
    s1, s2, merged = tmp / "s1.h5", tmp / "s2.h5", tmp / "merged.h5"
    mechbench("sweep", ini, "--out", s1, "--shard", "1/2", "--quiet")
    mechbench("sweep", ini, "--out", s2, "--shard", "2/2", "--quiet")
    k1, k2 = keys(s1), keys(s2)
    assert k1 and k2 and not set(k1) & set(k2)
    assert abs(len(k1) - len(k2)) <= 4  # balanced by modelled cost, not by count, but not lopsided here
    proc = mechbench("merge", s1, s2, "--out", merged)
    assert f"merged 2 files: {POINTS} rows" in proc.stderr
    k = keys(merged)
    assert len(k) == len(set(k)) == POINTS and set(k) == want
    with h5py.File(merged, "r") as f, h5py.File(s1, "r") as a:
        assert text(f.attrs["experiment"]) == "scaleout" and f.attrs["seed"] == 11
        assert sorted(f["shards"]) == ["0", "1"]
        assert text(f["shards/0"].attrs["source"]) == str(s1) and text(f["shards/1"].attrs["source"]) == str(s2)
        assert text(f["shards/0"].attrs["created"]) == text(a.attrs["created"]) and "cpu_flags" in f["shards/1"].attrs
        assert len(f["hosts"]) >= 1 and "cpu_model" in f["hosts"][list(f["hosts"])[0]].attrs
        # samples relinked: each pass row has its repetitions under its new point_id, and the same seconds
        pts, smp = f["points"][:], f["samples"][:]
        assert len(smp) == 2 * POINTS
        first = a["points"][0]
        old = sorted(s["seconds"] for s in a["samples"][:] if s["point_id"] == first["point_id"])
        for r in pts:
            assert sum(1 for s in smp if s["point_id"] == r["point_id"]) == 2
        new = sorted(s["seconds"] for s in smp if s["point_id"] == pts[0]["point_id"])
        assert pts[0]["kernel"] == first["kernel"] and new == old


def test_merge_refuses_the_same_shard_twice(serial):
    tmp, ini, _ = serial
    s1, out = tmp / "twice.h5", tmp / "twice_merged.h5"
    mechbench("sweep", ini, "--out", s1, "--shard", "1/2", "--quiet")
    proc = mechbench("merge", s1, s1, "--out", out, check=False)
    assert proc.returncode == 1 and not out.exists()
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "duplicate point (the same shard twice?)" in proc.stderr


def test_merge_never_touches_an_existing_output(serial):
    tmp, ini, _ = serial
    s1, out = tmp / "keep1.h5", tmp / "keep.h5"
    mechbench("sweep", ini, "--out", s1, "--shard", "1/2", "--quiet")
    out.write_bytes(b"precious")
    proc = mechbench("merge", s1, "--out", out, check=False)
    assert proc.returncode == 1 and out.read_bytes() == b"precious"
    assert proc.stderr.strip() == f"mechbench merge: {out} exists (use --force to replace it)"
    proc = mechbench("merge", s1, "--out", s1, check=False)
    assert proc.returncode == 2 and "is the input" in proc.stderr
    mechbench("merge", s1, "--out", out, "--force")
    assert len(keys(out)) == len(keys(s1))
    leftovers = [p.name for p in tmp.iterdir() if ".tmp" in p.name]
    assert not leftovers, leftovers


def test_merge_refuses_different_experiments(serial):
    tmp, ini, _ = serial
    other_ini = tmp / "other.ini"
    other_ini.write_text(INI.replace("name = scaleout", "name = other"))
    a, b, out = tmp / "a.h5", tmp / "other.h5", tmp / "mixed.h5"
    mechbench("sweep", ini, "--out", a, "--shard", "1/2", "--quiet")
    mechbench("sweep", other_ini, "--out", b, "--shard", "2/2", "--quiet")
    proc = mechbench("merge", a, b, "--out", out, check=False)
    assert proc.returncode == 1 and not out.exists()
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "holds experiment 'other' (seed 11)" in proc.stderr and "one experiment only" in proc.stderr


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1/0", "x", "1/2/3", "2"])
def test_bad_shard_is_a_usage_error(serial, bad):
    tmp, ini, _ = serial
    out = tmp / f"bad_{bad.replace('/', '_')}.h5"
    proc = mechbench("sweep", ini, "--out", out, "--shard", bad, check=False)
    assert proc.returncode == 2 and not out.exists()
    assert proc.stderr.strip() == f"mechbench sweep: --shard '{bad}': expected i/N with 1 <= i <= N (e.g. 2/8)"


def test_mpi_sweep_gives_the_serial_rows_once_each(serial):
    tmp, ini, want = serial
    out = tmp / "mpi.h5"
    proc = mpi("sweep", ini, "--out", out, "--mpi-share-node", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "share a host with another (--mpi-share-node)" in proc.stderr
    k = keys(out)
    assert len(k) == len(set(k)) == POINTS and set(k) == want
    with h5py.File(out, "r") as f:
        p = f["points"][:]
        assert set(p["mpi_rank"]) == {1, 2}  # rank 0 plans and writes, the workers measure
        assert all(h.decode() == os.uname().nodename for h in p["host"])
        assert set(p["verdict"]) == {b"pass"}
        assert len(f["samples"]) == 2 * POINTS
        assert os.uname().nodename in f["hosts"]


def test_mpi_one_measuring_rank_per_host_by_default(serial):
    tmp, ini, want = serial
    out = tmp / "mpi_one.h5"
    proc = mpi("sweep", ini, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "rank 2 shares host" in proc.stderr and "stays idle" in proc.stderr
    k = keys(out)
    assert set(k) == want and len(k) == POINTS
    with h5py.File(out, "r") as f:
        assert set(f["points"]["mpi_rank"]) == {1}


def test_plain_binary_under_mpirun_refuses(serial):
    tmp, ini, _ = serial
    out = tmp / "plain.h5"
    proc = subprocess.run(MPIRUN + ["-np", "2", str(ROOT / "mechbench"), "sweep", str(ini), "--out", str(out)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode != 0 and not out.exists()
    assert "this mechbench has no MPI: run mechbench-mpi" in proc.stderr


def rank_pid(rank):
    """The pid of mechbench-mpi rank `rank` (from its environment), or None."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            env = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
            cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        except OSError:
            continue
        if b"mechbench-mpi" in cmd and f"OMPI_COMM_WORLD_RANK={rank}".encode() in env:
            return int(pid)
    return None


def test_killed_worker_loses_only_its_point_and_resume_completes(serial):
    tmp, ini, want = serial
    slow = tmp / "slow.ini"
    slow.write_text(INI.replace("min_time = 0.001", "min_time = 0.05"))  # ~0.2 s per point: time to kill one
    out = tmp / "killed.h5"
    proc = subprocess.Popen(MPIRUN + ["-np", "3", str(MPI_BINARY), "sweep", str(slow), "--out", str(out),
                                      "--mpi-share-node", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if len(keys(out, False, locking=False)) >= 2:  # the sweep writes: read without its lock
                    break
            except (OSError, KeyError):
                pass
            time.sleep(0.1)
        pid = rank_pid(1)
        assert pid, "rank 1 not found"
        os.kill(pid, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    done = keys(out)
    assert 2 <= len(done) < POINTS and len(set(done)) == len(done)
    with h5py.File(out, "r") as f:
        rows = f["points"][:]
    lost = [r for r in rows if r["message"].decode().startswith("lost: ")]
    # rank 0 saw rank 1 die (same host: its pid vanished) and recorded its point as lost
    assert any(r["mpi_rank"] == 1 and b"died while measuring this point" in r["message"] for r in lost), rows["message"]
    assert all(r["verdict"] == b"error" for r in lost)
    resumed = mpi("sweep", slow, "--out", out, "--resume", "--mpi-share-node")  # --resume under MPI too
    assert resumed.returncode == 0, resumed.stderr
    assert f"resume: {len(done)} of {POINTS} points already in" in resumed.stderr
    assert f"{POINTS - len(done)} points measured, {len(done)} already present" in resumed.stderr
    k = keys(out)
    assert len(k) == len(set(k)) == POINTS and set(k) == want
