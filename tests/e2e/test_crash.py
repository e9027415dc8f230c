"""The crash test (issue 13): SIGKILL a real sweep at random moments, then check the results file and --resume.

One reference sweep (3 kernels x 3 points, each point 40-200 ms) gives the full set of points, the span C in which
the header's temporary file exists (the file is created under a temporary name, provenance written, then renamed),
the moment F its first point is stored and its duration T. Each trial starts the same sweep into a fresh file and
kills it (SIGKILL) at a seeded random moment: a third while the temporary exists (issue 13, item 7: 0.05-0.17 s
in on a quiet machine, later under load; the kill comes a random part of C's length after the temporary appears),
a third in [0, F], a third in [F, T] (from the start).
After the kill:
  - the results file does not exist (the kill came before the rename) or opens with h5py;
  - its committed rows (/points attribute committed_rows) hold each point at most once, every point whose progress
    line was printed (printed after its row is flushed) is among them, and `mechbench export` shows exactly them;
  - `sweep --resume` completes it: the full set of points, once each, the rows committed before the kill unchanged
    (bit for bit, at the same positions), /samples holding `repetitions` samples per point, no temporary left.
MB_STRESS_TRIALS sets the number of trials (default 20; `make stress` runs 50), MB_CRASH_SEED the seed (default 13).
"""
import os
import random
import signal
import subprocess
import threading
import time

import h5py
import numpy as np

from conftest import BINARY, mechbench

CRASH_INI = """[experiment]
name = crash
kernels = attention.softmax.naive, attention.linear.elu, attention.softmax.flash
seed = 3
repetitions = 2
min_time = 0.015
check_rows = 16

[axes]
n = 256:1024:x2
d = 32
threads = 1
"""
KERNELS = [b"attention.softmax.naive", b"attention.linear.elu", b"attention.softmax.flash"]
FULL = {(k, n) for k in KERNELS for n in (256, 512, 1024)}
REPETITIONS = 2
TRIALS = int(os.environ.get("MB_STRESS_TRIALS", "20"))
SEED = int(os.environ.get("MB_CRASH_SEED", "13"))


def committed(path):
    """The committed rows of /points and /samples (a reader never looks past committed_rows)."""
    with h5py.File(path, "r") as f:
        points, samples = f["points"], f["samples"]
        n_points = int(points.attrs.get("committed_rows", len(points)))
        n_samples = int(samples.attrs.get("committed_rows", len(samples)))
        return points[:n_points], samples[:n_samples]


def keys(points):
    return [(k, int(n)) for k, n in zip(points["kernel"].tolist(), points["n"].tolist())]


def run_and_kill(ini, out, delay, after_temp=False):
    """Start the sweep, SIGKILL it delay seconds after its start (after_temp: after its temporary file appeared);
    returns its exit status and the progress lines it printed before it died."""
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    proc = subprocess.Popen([str(BINARY), "sweep", str(ini), "--out", str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=out.parent, env=env)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr))  # keeps the pipe drained
    reader.start()
    while after_temp and proc.poll() is None and not any(".tmp." in name for name in os.listdir(out.parent)):
        time.sleep(0.002)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    rc = proc.wait(timeout=60)
    reader.join(timeout=60)
    return rc, lines


def reported(lines):
    """(kernel, n) of each progress line "[i/N] KERNEL n=... d=...: ..." (printed once the row is flushed)."""
    out = []
    for line in lines:
        if line.startswith("["):
            kernel, point = line.split("] ", 1)[1].split(" ", 1)
            out.append((kernel.encode(), int(point.split()[0].removeprefix("n="))))
    return out


def reference_timings(ini, ref):
    """Run the sweep once, watching its folder: the span in which the header's temporary exists (None if never seen),
    the moment its first point is reported, and its length (seconds from the start)."""
    t0 = time.monotonic()
    proc = subprocess.Popen([str(BINARY), "sweep", str(ini), "--out", str(ref)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=ref.parent)
    stamps = []
    reader = threading.Thread(target=lambda: stamps.extend(time.monotonic() - t0 for line in proc.stderr
                                                           if line.startswith("[")))
    reader.start()
    temp_from = temp_until = None
    while proc.poll() is None:
        now = time.monotonic() - t0
        if any(".tmp." in name for name in os.listdir(ref.parent)):
            temp_from = temp_from if temp_from is not None else now
            temp_until = now
        time.sleep(0.005)
    duration = time.monotonic() - t0
    reader.join(timeout=60)
    assert proc.returncode == 0 and stamps
    return (temp_from, temp_until) if temp_from is not None else None, stamps[0], duration


def test_sigkill_at_random_moments_never_loses_or_duplicates_a_point(tmp_path, capsys):
    ini = tmp_path / "crash.ini"
    ini.write_text(CRASH_INI)
    ref = tmp_path / "ref" / "ref.h5"
    ref.parent.mkdir()
    creating, first, duration = reference_timings(ini, ref)
    points, samples = committed(ref)
    assert set(keys(points)) == FULL and len(points) == len(FULL)
    assert len(samples) == REPETITIONS * len(FULL)

    rng = random.Random(SEED)
    outcomes = {"no file": 0, "partial": 0, "complete": 0}
    inside_creation = 0  # kills that left the temporary the header is written to (removed by the next sweep)
    for trial in range(TRIALS):
        after_temp = trial % 3 == 0 and creating is not None
        if after_temp:  # while the header is written under its temporary name
            delay = rng.uniform(0, creating[1] - creating[0])
        elif trial % 3 in (0, 1):  # start-up and creation
            delay = rng.uniform(0, first)
        else:
            delay = rng.uniform(first, duration)
        work = tmp_path / f"trial{trial}"
        work.mkdir()
        out = work / "crash.h5"
        rc, lines = run_and_kill(ini, out, delay, after_temp)
        inside_creation += any(".tmp." in p.name for p in work.iterdir())
        when = f"{delay:.3f} s after the temporary appeared" if after_temp else f"at {delay:.3f} s"
        where = f"trial {trial} (seed {SEED}, kill {when}; first point {first:.2f} s, end {duration:.2f} s)"
        if not out.exists():
            assert not reported(lines), where
            outcomes["no file"] += 1
            before = np.zeros(0)
        else:
            before, _ = committed(out)  # opens with h5py, or raises
            got = keys(before)
            assert len(set(got)) == len(got), f"{where}: a point twice: {got}"
            assert set(got) <= FULL, where
            assert set(reported(lines)) <= set(got), f"{where}: a finished point is missing"
            export = mechbench("export", out, "--format", "csv").stdout.strip().splitlines()
            assert len(export) == 1 + len(got), f"{where}: export shows {len(export) - 1} rows, {len(got)} committed"
            outcomes["complete" if len(got) == len(FULL) else "partial"] += 1
        if rc == 0:  # the sweep finished before the kill
            assert len(before) == len(FULL), where
        mechbench("sweep", ini, "--out", out, "--resume", "--quiet")
        points, samples = committed(out)
        got = keys(points)
        assert len(got) == len(FULL) and set(got) == FULL, f"{where}: after --resume: {got}"
        assert points[: len(before)].tobytes() == before.tobytes(), f"{where}: rows stored before the kill changed"
        assert set(points["verdict"].tolist()) == {b"pass"}, where
        assert len(samples) == REPETITIONS * len(FULL), where
        assert sorted(samples["point_id"].tolist()) == sorted(points["point_id"].tolist() * REPETITIONS), where
        assert sorted(p.name for p in work.iterdir()) == ["crash.h5"], f"{where}: left {list(work.iterdir())}"
    summary = (f"crash test: {TRIALS} SIGKILL trials (seed {SEED}, first point at {first:.2f} s, "
               f"sweep {duration:.2f} s): "
               f"{outcomes['no file']} before the file existed ({inside_creation} inside its creation), "
               f"{outcomes['partial']} partial, {outcomes['complete']} complete; every one resumed to exactly "
               f"{len(FULL)} points")
    with capsys.disabled():  # shown in the test run's output: the trial count goes in the closing note
        print("\n" + summary)
    assert sum(outcomes.values()) == TRIALS
