"""What every PyTorch peer shares: opening a mechbench results file for appending, the thread settings recorded
with each row, timing as mechbench times (warm-up, then repetitions of enough iterations to last --min-time),
error metrics against a float64 reference, and appending rows (+ samples) and kernel-table entries in the file's
own schema (the row schema of harness/store/row_schema.c, read from the file itself)."""
import argparse
import math
import os
import sys
import time

import h5py
import numpy as np
import torch


def arguments(doc, reps, min_time, results_optional=False):
    """The options every peer takes: the results file it appends to, --threads, --reps, --min-time."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?" if results_optional else None,
                    help="mechbench results file (HDF5); rows are appended to it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--min-time", type=float, default=min_time)
    return ap


def fail(program, message):
    print(f"{program}: {message}", file=sys.stderr)
    sys.exit(1)


def settings(threads):
    """The settings a peer row was measured under (written into its `message`)."""
    return (f"torch={torch.__version__};threads={threads};"
            f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')};"
            f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')};"
            f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')};"
            f"ATEN_CPU_CAPABILITY={os.environ.get('ATEN_CPU_CAPABILITY', 'default')};"
            f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', 'unset')}")


def open_results(program, path):
    """The results file opened for appending; exits with one line if it is not a mechbench results file."""
    try:
        f = h5py.File(path, "r+")
    except OSError as e:
        fail(program, f"{path}: cannot open for appending ({e})")
    if "points" not in f or "schema_version" not in f.attrs:
        f.close()
        fail(program, f"{path}: not a mechbench results file")
    return f


def time_peer(fn, reps, min_time):
    """(iterations, per-repetition seconds per call): one warm-up call, then reps x iterations."""
    fn()  # warm-up: fresh-buffer page faults make the first call much slower
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-9)
    iterations = max(1, int(math.ceil(min_time / once)))
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        samples.append((time.perf_counter() - start) / iterations)
    return iterations, np.array(samples)


def errors(got, want):
    """(max_abs, rel_l2, nmse, count) of got against a float64 reference."""
    diff = (got.double() - want).flatten()
    ref = want.flatten()
    sq_ref = float((ref * ref).sum())
    nmse = float((diff * diff).sum()) / sq_ref if sq_ref > 0 else float((diff * diff).sum())
    return float(diff.abs().max()), math.sqrt(nmse), nmse, diff.numel()


def timing_fields(iterations, samples, flops, nbytes):
    """The time_* / gflops / gbps fields of a row from its samples."""
    median = float(np.median(samples))
    mean = float(samples.mean())
    stddev = float(samples.std(ddof=1)) if len(samples) > 1 else 0.0
    return dict(iterations=iterations, repetitions=len(samples), time_mean=mean, time_median=median,
                time_min=float(samples.min()), time_max=float(samples.max()), time_stddev=stddev,
                time_cv=stddev / mean if mean else 0.0, gflops=flops / median / 1e9, gbps=nbytes / median / 1e9)


def error_fields(own, exact):
    return dict(own_max_abs=own[0], own_rel_l2=own[1], own_nmse=own[2], own_checked=own[3],
                exact_max_abs=exact[0], exact_rel_l2=exact[1], exact_nmse=exact[2], exact_checked=exact[3])


def append_row(f, fields, samples):
    """Appends one /points row (fields by column name; others zero) and its samples, flushes, then commits them
    (the committed_rows attributes) and flushes again, as mechbench's own writer does."""
    points = f["points"]
    row = np.zeros(1, dtype=points.dtype)
    for key, value in fields.items():
        if key in points.dtype.names:
            row[key] = value
    pid = points.shape[0]
    row["point_id"] = pid
    points.resize((pid + 1,))
    points[pid] = row[0]
    s = f["samples"]
    base = s.shape[0]
    srow = np.zeros(len(samples), dtype=s.dtype)
    srow["point_id"] = pid
    srow["repetition"] = np.arange(len(samples))
    srow["seconds"] = samples
    s.resize((base + len(samples),))
    s[base:] = srow
    f.flush()
    # the commit (harness/store/store.c): mechbench shows a row only once committed_rows covers it
    for table in (points, s):
        if "committed_rows" in table.attrs:
            table.attrs["committed_rows"] = np.int64(table.shape[0])
    f.flush()


def add_kernels(f, entries):
    """Adds the peers' rows to /kernels (entries: dicts by column name), each name once."""
    table = f["kernels"]
    present = {x.decode() for x in table["name"]}
    for values in entries:
        if values["name"] in present:
            continue
        row = np.zeros(1, dtype=table.dtype)
        for key, value in values.items():
            if key in table.dtype.names:
                row[key] = value
        table.resize((table.shape[0] + 1,))
        table[-1] = row[0]
