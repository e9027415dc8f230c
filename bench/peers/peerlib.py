"""What every PyTorch peer shares: a fair start (the environment below, set before torch loads), opening a
mechbench results file for appending, the settings recorded with each row, timing as mechbench times (warm-up, then
repetitions of enough iterations to last --min-time), error metrics against a float64 reference, and appending rows
(+ samples) and kernel-table entries in the file's own schema (harness/store/row_schema.c, read from the file).

Fair start (issue 14; DEPENDENCY-NOTES, "The machine itself" and "PyTorch"): importing this module before torch
re-executes the peer once with
  GLIBC_TUNABLES       glibc.malloc.hugetlb=1 added: torch allocates its outputs per call and a fresh 4 KiB page costs
                       ~6 us on these VMs (softmax attention at n = 4096 took ~3 s instead of ~0.3 s); glibc reads it
                       at process start only, hence the re-exec
  ATEN_CPU_CAPABILITY  avx512 when the CPU has AVX-512 F/BW/VL/DQ (ATen picks AVX2 otherwise); a value already set wins
  OPENBLAS_CORETYPE    removed: OpenBLAS picks its own kernel (the machines' Haswell setting halves sgemm)
  OMP_NUM_THREADS, OPENBLAS_NUM_THREADS, MKL_NUM_THREADS = --threads (torch.set_num_threads does not cap OpenBLAS)
and `settings()` records all of it, with what torch and OpenBLAS report using, in every row's message.
"""
import argparse
import ctypes
import math
import os
import re
import sys
import time

FAIR_MARK = "MB_PEER_FAIR_START"  # set in the re-executed process: never re-exec twice


def _cli_threads(argv):
    """--threads N (or --threads=N) from the command line, before argparse runs; 1 when absent or malformed."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else \
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None
        if value is not None:
            return value if value.isdigit() and int(value) > 0 else "1"
    return "1"


def _cpu_has_avx512():
    try:
        flags = set(re.search(r"^flags\s*:(.*)$", open("/proc/cpuinfo").read(), re.M).group(1).split())
    except (OSError, AttributeError):
        return False
    return {"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags


def fair_environment(env, threads, avx512):
    """The environment a peer runs in (see the module's doc), from env (a dict, not changed)."""
    out = dict(env)
    tunables = [t for t in out.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.malloc.hugetlb=")]
    out["GLIBC_TUNABLES"] = ":".join(tunables + ["glibc.malloc.hugetlb=1"])
    if avx512 and "ATEN_CPU_CAPABILITY" not in out:
        out["ATEN_CPU_CAPABILITY"] = "avx512"
    if "OPENBLAS_CORETYPE" in out:
        out["MB_PEER_WAS_OPENBLAS_CORETYPE"] = out.pop("OPENBLAS_CORETYPE")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        out[name] = threads
    return out


def _fair_start():
    """Re-execute a peer program (a script in this folder run as __main__) in the fair environment, once."""
    here = os.path.dirname(os.path.abspath(__file__))
    if not sys.argv or os.path.dirname(os.path.abspath(sys.argv[0])) != here:
        return  # imported by a test or a tool: leave its process alone
    if "torch" in sys.modules:
        raise RuntimeError("import peerlib before torch: the environment must be set before torch loads")
    want = fair_environment(os.environ, _cli_threads(sys.argv[1:]), _cpu_has_avx512())
    if want != dict(os.environ) and FAIR_MARK not in os.environ and sys.argv and sys.argv[0]:
        want[FAIR_MARK] = "1"
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable] + sys.argv, want)


_fair_start()

import h5py  # noqa: E402  (after the fair start)
import numpy as np  # noqa: E402
import torch  # noqa: E402


def arguments(doc, reps, min_time, results_optional=False):
    """The options every peer takes: the results file it appends to, --threads, --reps, --min-time."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="?" if results_optional else None,
                    help="mechbench results file (HDF5); rows are appended to it")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=reps)
    ap.add_argument("--min-time", type=float, default=min_time)
    ap.add_argument("--rounds", type=int, default=1, choices=range(1, 101), metavar="R",
                    help="measure every point in R interleaved rounds (all points, then all again), one row per "
                    "round in the column `round`, as `mechbench sweep --rounds` (default 1)")
    return ap


def round_of(row):
    """The round of a /points row (0 in files written before the column existed)."""
    return int(row["round"]) if "round" in row.dtype.names else 0


def fail(program, message):
    print(f"{program}: {message}", file=sys.stderr)
    sys.exit(1)


def mechbench_env():
    """The environment for a mechbench process started by a peer: the caller's OPENBLAS_CORETYPE back."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MB_PEER_")}
    if "MB_PEER_WAS_OPENBLAS_CORETYPE" in os.environ:
        env["OPENBLAS_CORETYPE"] = os.environ["MB_PEER_WAS_OPENBLAS_CORETYPE"]
    return env


def aten_capability():
    """The vector ISA ATen's kernels use in this process ("AVX512", "AVX2", "DEFAULT"), as torch reports it."""
    found = re.search(r"CPU capability usage: (\S+)", torch.__config__.show())
    return found.group(1) if found else "unknown"


def openblas_core():
    """OpenBLAS's kernel (openblas_get_corename) in the library torch loaded, or "unknown"."""
    torch.ones(8, 8) @ torch.ones(8, 8)  # loads the BLAS
    try:
        maps = open("/proc/self/maps").read()
        path = re.search(r"(/\S*libopenblas\S*\.so\S*)", maps).group(1)
        lib = ctypes.CDLL(path)
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return "unknown"


def allocator():
    """"hugetlb=1 THP=madvise" when glibc's huge-page malloc is on, else "4k-pages"."""
    if "glibc.malloc.hugetlb=1" not in os.environ.get("GLIBC_TUNABLES", ""):
        return "4k-pages"
    try:
        thp = re.search(r"\[(\w+)\]", open("/sys/kernel/mm/transparent_hugepage/enabled").read()).group(1)
    except (OSError, AttributeError):
        thp = "unknown"
    return f"hugetlb=1 THP={thp}"


def settings(threads):
    """The settings a peer row was measured under, for its `message` (159 characters at most, with a prefix):
    "torch 1.13.0a0; threads 1: torch/OMP/BLAS/MKL 1/1/1/1; malloc hugetlb=1 THP=madvise; ATen AVX512;
    OpenBLAS Cooperlake (CORETYPE was Haswell)" (the thread counts torch and the three variables give)."""
    env = os.environ.get
    was = env("MB_PEER_WAS_OPENBLAS_CORETYPE")
    coretype = f"was {was}" if was else env("OPENBLAS_CORETYPE", "unset")
    caps = "/".join([str(torch.get_num_threads())] +
                    [env(v, "-") for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")])
    return (f"torch {torch.__version__}; threads {threads}: torch/OMP/BLAS/MKL {caps}; malloc {allocator()}; "
            f"ATen {aten_capability()}; OpenBLAS {openblas_core()} (CORETYPE {coretype})")


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
