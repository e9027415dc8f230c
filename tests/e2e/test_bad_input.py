"""The bad-input catalogue (issue 13): one row per hostile input across the whole CLI.

A row is: an id, the argv (run in a fresh work directory, paths relative to it; {root} is the source tree), the files
to create there first, the expected exit code and a regex the single stderr line must match. For every row the test
asserts:
  - the exit code is the expected one (never 0);
  - stderr is exactly ONE non-empty line. The rule holds for usage errors too: the line says what is wrong and, when
    useful, where to look (`see mechbench CMD --help`); the usage text is printed only on request (--help, stdout,
    exit 0). No HDF5 error stack, no usage wall;
  - stdout is empty (nothing half-reported);
  - no file in the work directory was created, removed or changed (names, and for files sizes, mtimes and SHA-256,
    before/after; a temporary left behind, such as .NAME.XXXXXX, counts as created).
Exit codes: 2 for usage errors (a bad option, axis, value, experiment/spec/net/model file content), 1 for failures
(a file that cannot be read or written, corrupt or inconsistent data, a refused operation on a file). An --out that
names one of the command's own inputs is a usage error (2).
Issue 13's items 1-10 are the rows tagged i13.N. Rows with disk=True get a full disk at disk/ (a 64 KiB tmpfs with
60 KiB used; skipped where tmpfs cannot be mounted); the junk-row half of item 3 (a disk that fills up in the middle
of a sweep) is tests/e2e/test_cli.py::test_full_disk_leaves_no_junk_row_and_resume_completes.
"""
import fcntl
import hashlib
import os
import pathlib
import re
import shutil
import struct
import subprocess
from collections import namedtuple
from pathlib import Path

import h5py
import numpy as np
import pytest

from tfrecord_frame import frame
from conftest import BINARY, ROOT, mechbench

Case = namedtuple("Case", "id argv files rc regex hold disk", defaults=(None, False))

# ------------------------------------------------------------------------------------------------ inputs
TINY_INI = """[experiment]
name = tiny
kernels = attention.linear.elu
seed = 7
repetitions = 2
min_time = 0.001
check_rows = 8

[axes]
n = 16, 32
d = 8
threads = 1
"""
OTHER_INI = TINY_INI.replace("name = tiny", "name = other")


def ini(axes="n = 16\nd = 8\n", experiment="", kernels="attention.linear.elu"):
    return f"[experiment]\nname = x\nkernels = {kernels}\nmin_time = 0.001\n{experiment}[axes]\n{axes}"


def h5(**datasets):
    """A writer of an HDF5 file holding the given arrays (or h5py dataset-creation kwargs as dicts)."""
    def write(path):
        with h5py.File(path, "w") as f:
            for name, value in datasets.items():
                if isinstance(value, dict):
                    f.create_dataset(name, **value)
                else:
                    f[name] = value
    return write


def qkv(q=None, k=None, v=None, shape=(1, 1, 4, 8)):
    base = np.ones(shape, np.float32)
    return h5(q=base if q is None else q, k=base if k is None else k, v=base if v is None else v)


def with_value(index, value, shape=(1, 1, 4, 8)):
    a = np.ones(shape, np.float32)
    a.flat[index] = value
    return a


def tfrecord(*records):
    return b"".join(frame(data) for data in records)


def _field(number, payload):  # a length-delimited protobuf field (payloads here are < 128 bytes)
    return bytes([number << 3 | 2, len(payload)]) + payload


# one tf.Example {"x": float_list [1.5]}: Example.features -> Features.feature map entry {key, value: Feature}
EXAMPLE = _field(1, _field(1, _field(1, b"x") + _field(2, _field(2, _field(1, struct.pack("<f", 1.5))))))
GOOD_RECORDS = tfrecord(EXAMPLE, EXAMPLE)
BAD_DATA_CRC = GOOD_RECORDS[:-1] + bytes([GOOD_RECORDS[-1] ^ 0xFF])
SPEC = "[x]\ntype = numeric\n"

CLAIM = "[claim c]\nsource = s\nstatement = t\nassert = slope\nkernels = attention.linear.elu\nexpect = 1..2\nn = 256, 512, 1024, 2048, 4096\nfit_range = all\n"


DIR, FIFO = ("dir",), ("fifo",)  # a directory, a named pipe (an output renamed onto it would replace it)


def fuzz_file(name):
    """A file of the HDF5 fuzz corpus (fuzz/corpus/h5tensor/; byte 0 is the fuzz target's mode, the rest the file)."""
    return (pathlib.Path(__file__).resolve().parents[2] / "fuzz" / "corpus" / "h5tensor" / name).read_bytes()[1:]


def copy_of(name):
    """A copy of a results file made once per session (the `results` fixture)."""
    return ("copy", name)


# ------------------------------------------------------------------------------------------------ the catalogue
K = "attention.linear.elu"
S = "attention.softmax.naive"
CATALOGUE = [
    # --- the command itself
    Case("no-command", [], {}, 2, r"^mechbench: no command given \(commands: list, .*--help"),
    Case("unknown-command", ["frobnicate"], {}, 2, r"unknown command 'frobnicate' \(commands: list,"),
    # --- run: axes and numbers (i13.10: one number syntax everywhere)
    Case("run-unknown-kernel", ["run", "attention.nope"], {}, 2, r"unknown kernel 'attention\.nope'"),
    Case("run-no-kernel", ["run"], {}, 2, r"^mechbench run: expected one kernel name"),
    Case("run-two-kernels", ["run", K, S], {}, 2, r"expected one kernel name"),
    Case("run-n-zero", ["run", K, "--n", "0"], {}, 2, r"n = 0.*allowed"),
    Case("run-n-word", ["run", K, "--n", "abc"], {}, 2, r"--n 'abc' is not a number"),
    Case("i13.10-run-n-hex", ["run", K, "--n", "0x40"], {}, 2, r"--n '0x40' is not a number"),
    Case("run-n-nan", ["run", K, "--n", "nan"], {}, 2, r"--n 'nan' is not a number"),
    Case("run-n-inf", ["run", K, "--n", "inf"], {}, 2, r"--n 'inf' is not a number"),
    Case("run-n-fraction", ["run", K, "--n", "16.5"], {}, 2, r"--n 16\.5: expected a whole number"),
    Case("run-n-huge", ["run", K, "--n", "1e30"], {}, 2, r"--n 1e30"),
    Case("run-n-missing-value", ["run", K, "--n"], {}, 2, r"--n needs a value"),
    Case("run-d-negative", ["run", K, "--d", "-3"], {}, 2, r"--d"),
    Case("run-threads-zero", ["run", K, "--threads", "0"], {}, 2, r"threads = 0"),
    Case("i13.10-run-causal-2", ["run", K, "--causal", "2"], {}, 2, r"--causal 2: expected 0 or 1"),
    Case("run-rank-not-read", ["run", S, "--rank", "4"], {}, 2, r"does not read axis rank"),
    Case("run-unknown-option", ["run", K, "--bogus", "1"], {}, 2, r"unknown option --bogus"),
    Case("run-flag-with-value", ["run", K, "--json=yes"], {}, 2, r"--json takes no value"),
    Case("i13.10-run-param-nan", ["run", K, "--param", "threads=nan"], {}, 2,
         r"--param threads: 'nan' is not a number"),
    Case("i13.10-run-param-hex", ["run", K, "--param", "qk_std=0x1"], {}, 2, r"qk_std=0x1.*not allowed"),
    Case("run-param-out-of-range", ["run", K, "--param", "qk_std=0"], {}, 2, r"qk_std=0.*not allowed.*\[0\.001, 16\]"),
    Case("run-param-unknown", ["run", K, "--param", "nope=1"], {}, 2, r"unknown parameter 'nope'.*allowed: qk_std"),
    Case("run-param-no-equals", ["run", K, "--param", "qk_std"], {}, 2, r"'qk_std'.*key=value"),
    Case("run-param-too-long", ["run", K, "--param", "qk_std=" + "1" * 200], {}, 2,
         r"--param 'qk_std=1{33}\.\.\.': the parameters are longer than 127 characters"),
    Case("run-param-bad-choice", ["run", "attention.performer", "--param", "features=sideways"], {}, 2,
         r"features=sideways.*orthogonal, iid"),
    Case("run-max-mem-beyond-ram", ["run", K, "--max-mem", "1T"], {}, 2, r"--max-mem 1T exceeds this machine's memory"),
    Case("run-max-mem-word", ["run", K, "--max-mem", "lots"], {}, 2, r"--max-mem 'lots'.*such as 512M"),
    # --- describe, list
    Case("describe-unknown", ["describe", "nope"], {}, 2, r"unknown kernel 'nope'"),
    Case("describe-nothing", ["describe"], {}, 2, r"^mechbench describe: expected one kernel name"),
    Case("list-unknown-family", ["list", "--family", "nope"], {}, 2, r"unknown family 'nope'"),
    # --- sweep: the experiment file (each FILE:LINE:)
    Case("sweep-missing-ini", ["sweep", "none.ini", "--out", "o.h5"], {}, 2, r"none\.ini.*No such file"),
    Case("sweep-no-ini", ["sweep"], {}, 2, r"expected one experiment file"),
    Case("sweep-ini-is-a-directory", ["sweep", "d", "--out", "o.h5"], {"d": DIR}, 2, r"d: cannot read: Is a directory"),
    Case("sweep-ini-endless", ["sweep", "/dev/zero", "--out", "o.h5"], {}, 2, r"/dev/zero: larger than 1 MiB"),
    Case("ini-unknown-axis", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("nn = 8\n")}, 2, r"e\.ini:6: .*nn"),
    Case("ini-descending-range", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 8:2:x2\n")}, 2, r"e\.ini:6:"),
    Case("i13.2-ini-ratio-barely-above-1", ["sweep", "e.ini", "--out", "o.h5"],
         {"e.ini": ini("n = 1:1000:x1.000000000001\n")}, 2,
         r"e\.ini:6: '1:1000:x1\.000000000001' for axis n expands to .* values \(at most 256"),
    Case("i13.2-ini-step-tiny", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("eps = 1:2:+1e-300\n")}, 2,
         r"e\.ini:6: '1:2:\+1e-300' for axis eps expands to .* values \(at most 256"),
    Case("ini-step-zero", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 8:64:+0\n")}, 2, r"e\.ini:6:"),
    Case("ini-too-many-values", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 1:100000000:+1\n")}, 2,
         r"e\.ini:6:"),
    Case("ini-hex", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 0x40\n")}, 2, r"e\.ini:6: .*0x40"),
    Case("ini-nan", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 16\nd = nan\n")}, 2, r"e\.ini:7: .*nan"),
    Case("ini-not-ini", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": "[experiment]\nname = x\nthis is not ini\n"}, 2,
         r"e\.ini:3:"),
    Case("ini-repetitions-zero", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini(experiment="repetitions = 0\n")},
         2, r"e\.ini:5: .*repetitions"),
    Case("ini-unknown-key", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini(experiment="colour = red\n")}, 2,
         r"e\.ini:5: .*colour"),
    Case("ini-no-name", ["sweep", "e.ini", "--out", "o.h5"],
         {"e.ini": "[experiment]\nkernels = attention.linear.elu\n"}, 2, r"e\.ini.*name"),
    Case("ini-no-kernel-matches", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini(kernels="nothing.*")}, 2,
         r"matches no kernel"),
    Case("ini-max-mem-beyond-ram", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini(experiment="max_mem = 1T\n")}, 2,
         r"e\.ini:5: .*exceeds this machine's memory"),
    Case("i13.8-ini-param-not-a-number", ["sweep", "e.ini", "--out", "o.h5"],
         {"e.ini": ini("n = 16\nparams = qk_std=abc\n")}, 2, r"e\.ini:7: .*qk_std"),
    Case("ini-param-unknown", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 16\nparams = nope=1\n")}, 2,
         r"e\.ini:7: .*unknown parameter 'nope'"),
    Case("ini-d-too-large", ["sweep", "e.ini", "--out", "o.h5"], {"e.ini": ini("n = 16\nd = 100000\n")}, 2,
         r"d = 100000"),
    # --- sweep: options and the output file
    Case("sweep-max-mem-beyond-ram", ["sweep", "t.ini", "--out", "o.h5", "--max-mem", "1T"], {"t.ini": TINY_INI}, 2,
         r"--max-mem 1T exceeds this machine's memory"),
    Case("sweep-budget-negative", ["sweep", "t.ini", "--out", "o.h5", "--budget", "-5"], {"t.ini": TINY_INI}, 2,
         r"--budget '-5'"),
    Case("sweep-resume-and-force", ["sweep", "t.ini", "--out", "o.h5", "--resume", "--force"], {"t.ini": TINY_INI}, 2,
         r"--resume and --force exclude each other"),
    Case("sweep-exists-no-resume", ["sweep", "t.ini", "--out", "r.h5"], {"t.ini": TINY_INI, "r.h5": copy_of("tiny")}, 1,
         r"r\.h5.*exists.*--resume"),
    Case("i13.6-resume-another-experiment", ["sweep", "o.ini", "--out", "r.h5", "--resume"],
         {"o.ini": OTHER_INI, "r.h5": copy_of("tiny")}, 1, r"holds experiment 'tiny' \(seed 7\).*same experiment only"),
    Case("i13.7-resume-on-a-stub", ["sweep", "t.ini", "--out", "r.h5", "--resume"],
         {"t.ini": TINY_INI, "r.h5": b"\x89HDF\r\n\x1a\n" + b"\0" * 88}, 1, r"r\.h5"),
    Case("resume-on-text", ["sweep", "t.ini", "--out", "r.h5", "--resume"], {"t.ini": TINY_INI, "r.h5": "not HDF5\n"},
         1, r"r\.h5"),
    Case("resume-on-truncated", ["sweep", "t.ini", "--out", "r.h5", "--resume"],
         {"t.ini": TINY_INI, "r.h5": ("truncate", "tiny", 1500)}, 1, r"r\.h5"),
    Case("resume-on-foreign-h5", ["sweep", "t.ini", "--out", "r.h5", "--resume"],
         {"t.ini": TINY_INI, "r.h5": h5(x=np.arange(3))}, 1, r"r\.h5"),
    Case("i13.5-force-on-file-in-use", ["sweep", "t.ini", "--out", "r.h5", "--force"],
         {"t.ini": TINY_INI, "r.h5": copy_of("tiny")}, 1, r"in use by another mechbench process", hold="r.h5"),
    Case("i13.5-resume-on-file-in-use", ["sweep", "t.ini", "--out", "r.h5", "--resume"],
         {"t.ini": TINY_INI, "r.h5": copy_of("tiny")}, 1, r"in use by another mechbench process", hold="r.h5"),
    Case("sweep-out-is-the-ini", ["sweep", "t.ini", "--out", "t.ini", "--force"], {"t.ini": TINY_INI}, 2,
         r"t\.ini.*is the experiment file itself"),
    Case("sweep-out-is-a-directory", ["sweep", "t.ini", "--out", "d", "--force"], {"t.ini": TINY_INI, "d": DIR}, 2,
         r"--out d is a directory"),
    Case("sweep-out-empty", ["sweep", "t.ini", "--out", ""], {"t.ini": TINY_INI}, 2, r"--out needs a file name"),
    Case("sweep-out-is-a-pipe", ["sweep", "t.ini", "--out", "p", "--force"], {"t.ini": TINY_INI, "p": FIFO}, 2,
         r"--out p is not a regular file"),
    Case("i13.3-sweep-on-a-full-disk", ["sweep", "t.ini", "--out", "disk/r.h5"], {"t.ini": TINY_INI}, 1,
         r"disk/r\.h5: .*No space left on device", disk=True),
    Case("sweep-out-under-a-file", ["sweep", "t.ini", "--out", "f/x.h5"], {"t.ini": TINY_INI, "f": "a file\n"}, 1,
         r"f/x\.h5|Not a directory"),
    Case("sweep-out-unwritable", ["sweep", "t.ini", "--out", "/proc/mechbench-x.h5"], {"t.ini": TINY_INI}, 1,
         r"/proc/mechbench-x\.h5"),
    # --- eval: user tensors (i13.1 sizes, i13.9 non-finite values)
    Case("eval-unknown-kernel", ["eval", "nope", "--in", "i.h5", "--out", "o.h5"], {"i.h5": qkv()}, 2,
         r"unknown kernel 'nope'"),
    Case("eval-no-out", ["eval", S, "--in", "i.h5"], {"i.h5": qkv()}, 2, r"--out"),
    Case("eval-missing-in", ["eval", S, "--in", "none.h5", "--out", "o.h5"], {}, 1, r"none\.h5"),
    Case("eval-in-text", ["eval", S, "--in", "i.h5", "--out", "o.h5"], {"i.h5": "not HDF5\n"}, 1, r"i\.h5"),
    Case("eval-in-truncated", ["eval", S, "--in", "i.h5", "--out", "o.h5"], {"i.h5": ("truncate", "qkv", 1200)}, 1,
         r"i\.h5"),
    Case("eval-missing-dataset", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": h5(q=np.ones((1, 1, 4, 8), np.float32), k=np.ones((1, 1, 4, 8), np.float32))}, 1, r"'v'"),
    Case("eval-dataset-is-a-group", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": lambda p: (qkv()(p), _regroup(p, "v"))}, 1, r"'v'"),
    Case("eval-wrong-rank", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": qkv(q=np.ones((4, 8), np.float32))}, 1, r"'q'.*shape|'q'.*dimensions"),
    Case("eval-shapes-disagree", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": qkv(k=np.ones((1, 1, 4, 16), np.float32))}, 1, r"'k'"),
    Case("eval-empty-dimension", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": qkv(shape=(1, 1, 0, 8))}, 1, r"'q'|n = 0"),
    Case("eval-string-dtype", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": qkv(q=np.array([[[[b"ab"] * 8] * 4]]))}, 1, r"'q'.*(float|type)"),
    Case("i13.9-eval-nan", ["eval", K, "--in", "i.h5", "--out", "o.h5"], {"i.h5": qkv(q=with_value(10, np.nan))}, 1,
         r"'q' holds 1 NaN or Inf values \(the first at element 10\).*--allow-nonfinite"),
    Case("i13.9-eval-inf", ["eval", K, "--in", "i.h5", "--out", "o.h5"], {"i.h5": qkv(v=with_value(3, -np.inf))}, 1,
         r"'v' holds 1 NaN or Inf values \(the first at element 3\)"),
    Case("i13.1-eval-declared-huge", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": qkv(q={"shape": (65536, 1024, 16777216, 4096), "dtype": "f4", "chunks": (1, 1, 1, 8)})}, 1,
         r"dataset 'q' is too large"),
    Case("i13.1-eval-beyond-max-mem", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": h5(**{n: {"shape": (64, 64, 65536, 64), "dtype": "f4", "chunks": (1, 1, 1, 64)} for n in "qkv"})}, 1,
         r"more than --max-mem"),
    Case("i13.6-eval-out-is-in", ["eval", S, "--in", "i.h5", "--out", "./i.h5"], {"i.h5": qkv()}, 2,
         r"is the input file itself"),
    Case("eval-axis-contradicts-shapes", ["eval", S, "--in", "i.h5", "--out", "o.h5", "--n", "8"], {"i.h5": qkv()}, 2,
         r"--n 8 contradicts the inputs in i\.h5 \(their shapes give n = 4\)"),
    Case("eval-out-is-a-directory", ["eval", S, "--in", "i.h5", "--out", "d"], {"i.h5": qkv(), "d": DIR}, 2,
         r"--out d is a directory"),
    # files on which libhdf5 1.10.8 itself crashes (found by make fuzz): read in a child process, so one line
    Case("eval-libhdf5-crashes-reading-values", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": fuzz_file("crash-h5dread-null-memcpy")}, 1,
         r"i\.h5: corrupt HDF5 file: libhdf5 crashed reading the values of 'q' \(killed by signal 11"),
    Case("eval-libhdf5-crashes-reading-shape", ["eval", S, "--in", "i.h5", "--out", "o.h5"],
         {"i.h5": fuzz_file("crash-shape-segv")}, 1,
         r"i\.h5: corrupt HDF5 file: libhdf5 crashed reading the shape of 'q' \(killed by signal 11"),
    Case("eval-in-endless", ["eval", S, "--in", "/dev/zero", "--out", "o.h5"], {}, 1, r"/dev/zero: not an HDF5 file"),
    Case("eval-param-unknown", ["eval", S, "--in", "i.h5", "--out", "o.h5", "--param", "rounds=2"], {"i.h5": qkv()}, 2,
         r"unknown parameter 'rounds'"),
    Case("eval-out-unwritable", ["eval", S, "--in", "i.h5", "--out", "f/o.h5"], {"i.h5": qkv(), "f": "a file\n"}, 1,
         r"f/o\.h5|Not a directory"),
    # --- plot, export, compare, fit: results files
    Case("plot-no-file", ["plot"], {}, 2, r"missing results file"),
    Case("plot-missing", ["plot", "none.h5"], {}, 1, r"none\.h5"),
    Case("plot-endless", ["plot", "/dev/zero", "--out", "p"], {}, 1, r"/dev/zero: not an HDF5 file"),
    Case("plot-text", ["plot", "r.h5", "--out", "p"], {"r.h5": "not HDF5\n"}, 1, r"r\.h5"),
    Case("plot-foreign", ["plot", "r.h5", "--out", "p"], {"r.h5": h5(x=np.arange(3))}, 1, r"r\.h5"),
    Case("plot-bad-y", ["plot", "r.h5", "--out", "p", "--y", "colour"], {"r.h5": copy_of("tiny")}, 2, r"colour"),
    Case("plot-bad-x", ["plot", "r.h5", "--out", "p", "--x", "colour"], {"r.h5": copy_of("tiny")}, 2, r"colour"),
    Case("plot-where-unknown-axis", ["plot", "r.h5", "--out", "p", "--where", "nope=3"], {"r.h5": copy_of("tiny")}, 2,
         r"unknown axis 'nope'"),
    Case("i13.10-plot-where-hex", ["plot", "r.h5", "--out", "p", "--where", "n=0x10"], {"r.h5": copy_of("tiny")}, 2,
         r"--where 'n=0x10': '0x10' is not a number"),
    Case("plot-where-nan", ["plot", "r.h5", "--out", "p", "--where", "n=nan"], {"r.h5": copy_of("tiny")}, 2,
         r"'nan' is not a number"),
    Case("plot-where-matches-nothing", ["plot", "r.h5", "--out", "p", "--where", "threads=3"],
         {"r.h5": copy_of("tiny")}, 1, r"matching --where"),
    Case("plot-kernels-match-nothing", ["plot", "r.h5", "--out", "p", "--kernels", "nope.*"], {"r.h5": copy_of("tiny")},
         1, r"no measured points .*matching --where/--kernels"),
    Case("i13.4-plot-on-a-full-disk", ["plot", "r.h5", "--out", "disk/p"], {"r.h5": copy_of("tiny")}, 1,
         r"is the disk full\?", disk=True),
    Case("eval-on-a-full-disk", ["eval", K, "--in", "i.h5", "--out", "disk/o.h5"],
         {"i.h5": qkv(shape=(1, 1, 512, 64))}, 1, r"disk/o\.h5.*No space left on device", disk=True),
    Case("plot-out-unwritable", ["plot", "r.h5", "--out", "f/p", "--y", "time"], {"r.h5": copy_of("tiny"), "f": "x\n"},
         1, r"f/p|Not a directory"),
    Case("export-bad-format", ["export", "r.h5", "--format", "xml"], {"r.h5": copy_of("tiny")}, 2, r"xml"),
    Case("i13.6-export-out-is-in", ["export", "r.h5", "--format", "csv", "--out", "./r.h5"], {"r.h5": copy_of("tiny")},
         2, r"is the results file itself"),
    Case("export-out-empty", ["export", "r.h5", "--format", "csv", "--out="], {"r.h5": copy_of("tiny")}, 2,
         r"--out needs a file name"),
    Case("export-truncated", ["export", "r.h5", "--format", "tsv"], {"r.h5": ("truncate", "tiny", 1500)}, 1, r"r\.h5"),
    Case("export-out-unwritable", ["export", "r.h5", "--format", "csv", "--out", "f/x.csv"],
         {"r.h5": copy_of("tiny"), "f": "x\n"}, 1, r"f/x\.csv|Not a directory"),
    Case("compare-one-file", ["compare", "a.h5"], {"a.h5": copy_of("tiny")}, 2, r"two"),
    Case("compare-threshold-negative", ["compare", "a.h5", "a.h5", "--threshold", "-1"], {"a.h5": copy_of("tiny")}, 2,
         r"-1"),
    Case("compare-ignore-unknown-param", ["compare", "a.h5", "a.h5", "--ignore-params", "qk_std,nope"],
         {"a.h5": copy_of("tiny")}, 2, r"--ignore-params: no kernel has a parameter 'nope'"),
    Case("compare-missing", ["compare", "a.h5", "none.h5"], {"a.h5": copy_of("tiny")}, 1, r"none\.h5"),
    Case("compare-corrupt", ["compare", "a.h5", "b.h5"], {"a.h5": copy_of("tiny"), "b.h5": "not HDF5\n"}, 1, r"b\.h5"),
    Case("fit-no-file", ["fit"], {}, 2, r"expected one results file"),
    Case("fit-missing", ["fit", "none.h5"], {}, 1, r"none\.h5"),
    Case("fit-bad-select", ["fit", "r.h5", "--select", "bic"], {"r.h5": copy_of("tiny")}, 2, r"bic"),
    Case("fit-kernel-matches-nothing", ["fit", "r.h5", "--kernel", "nope.*"], {"r.h5": copy_of("tiny")}, 1,
         r"r\.h5 has no measured points matching --kernel"),
    Case("fit-foreign", ["fit", "r.h5"], {"r.h5": h5(x=np.arange(3))}, 1, r"r\.h5"),
    # --- claims, machine
    Case("claims-unknown-id", ["claims", "--dir", "c", "nope"], {"c/a.ini": CLAIM}, 2, r"no claim in c matches 'nope'"),
    Case("claims-bad-file", ["claims", "--dir", "c"], {"c/a.ini": CLAIM + "bogus = 1\n"}, 1, r"a\.ini:9: .*bogus"),
    Case("claims-empty-dir", ["claims", "--dir", "c"], {"c": DIR}, 2, r"c holds no claims"),
    Case("claims-missing-dir", ["claims", "--dir", "none"], {}, 1, r"none"),
    Case("machine-reps-zero", ["machine", "--reps", "0", "--out", "m.h5"], {}, 2, r"--reps"),
    Case("machine-out-unwritable", ["machine", "--reps", "1", "--out", "f/m.h5"], {"f": "x\n"}, 1,
         r"f/m\.h5|Not a directory"),
    Case("machine-out-is-a-directory", ["machine", "--reps", "1", "--out", "d"], {"d": DIR}, 2,
         r"--out d is a directory"),
    # --- family tools: rf, params, tfrecord, features
    Case("rf-nothing", ["rf"], {}, 2, r"give one of NET, --erf or --checkerboard"),
    Case("rf-unknown-option", ["rf", "alexnet", "--colour", "red"], {}, 2, r"unknown option --colour"),
    Case("rf-unknown-net", ["rf", "lenet", "--nets", "{root}/experiments/nets"], {}, 2,
         r"unknown net 'lenet'.*alexnet"),
    Case("rf-bad-net-file", ["rf", "b.net"], {"b.net": "input 224\nconv 3 1 1\nconv 3 x 1\n"}, 2,
         r"b\.net:3: conv stride 'x'"),
    Case("rf-input-zero", ["rf", "alexnet", "--input", "0", "--nets", "{root}/experiments/nets"], {}, 2, r"--input 0"),
    Case("rf-endless-net", ["rf", "/dev/zero"], {}, 2, r"/dev/zero is not a regular file"),
    Case("params-endless-model", ["params", "/dev/zero"], {}, 2, r"/dev/zero is not a regular file"),
    Case("params-unknown-model", ["params", "nope", "--models", "{root}/experiments/models"], {}, 2, r"nope"),
    Case("params-bad-method", ["params", "bert-base", "--method", "bitfit", "--models", "{root}/experiments/models"],
         {}, 2, r"unknown method 'bitfit'"),
    Case("params-unknown-option-last", ["params", "bert-base", "--bogus"], {}, 2,
         r"unknown option --bogus \(allowed: --method"),
    Case("params-option-without-value", ["params", "bert-base", "--r"], {}, 2, r"--r needs a value"),
    Case("params-bad-model-file", ["params", "m.ini"], {"m.ini": "[model]\nname = x\nlayers = many\n"}, 2,
         r"m\.ini:3: layers = many"),
    Case("tfrecord-nothing", ["tfrecord"], {}, 2, r"missing command \(cat, verify"),
    Case("tfrecord-unknown-command", ["tfrecord", "bogus", "x"], {}, 2, r"unknown command 'bogus'"),
    Case("tfrecord-bad-data-crc", ["tfrecord", "verify", "d.tfrecord"], {"d.tfrecord": BAD_DATA_CRC}, 1,
         r"record 1.*bad data CRC"),
    Case("tfrecord-truncated", ["tfrecord", "count", "d.tfrecord"], {"d.tfrecord": GOOD_RECORDS[:-7]}, 1,
         r"record 1.*truncated"),
    Case("tfrecord-garbage-protobuf", ["tfrecord", "cat", "d.tfrecord"], {"d.tfrecord": tfrecord(b"\xff\xff\xff")}, 1,
         r"record 0.*garbage protobuf"),
    Case("tfrecord-bad-compression", ["tfrecord", "cat", "d.tfrecord", "--compression", "lz4"],
         {"d.tfrecord": GOOD_RECORDS}, 2, r"'lz4'"),
    Case("tfrecord-from-csv-ragged", ["tfrecord", "from-csv", "a.csv", "--out", "o.tfrecord"],
         {"a.csv": "a,b\n1,2\n3\n"}, 1, r"line 3: 1 fields, the header has 2"),
    Case("tfrecord-from-csv-out-is-in", ["tfrecord", "from-csv", "a.csv", "--out", "a.csv"], {"a.csv": "a,b\n1,2\n"}, 2,
         r"--out a\.csv is the input file a\.csv itself"),
    Case("tfrecord-from-csv-out-is-a-directory", ["tfrecord", "from-csv", "a.csv", "--out", "d"],
         {"a.csv": "a,b\n1,2\n", "d": DIR}, 2, r"--out d is a directory"),
    Case("tfrecord-from-csv-endless", ["tfrecord", "from-csv", "/dev/zero", "--out", "o.tfrecord"], {}, 2,
         r"/dev/zero is not a regular file"),
    Case("features-bad-spec", ["features", "apply", "s.ini", "d.tfrecord", "--out", "o.h5"],
         {"s.ini": "[x]\ntype = numeric\n[y]\ntype = bucketized\nsource = x\nboundaries = 1, 0\n",
          "d.tfrecord": GOOD_RECORDS}, 2, r"s\.ini:6: boundaries"),
    Case("features-unknown-type", ["features", "apply", "s.ini", "d.tfrecord", "--out", "o.h5"],
         {"s.ini": "[x]\ntype = fancy\n", "d.tfrecord": GOOD_RECORDS}, 2, r"s\.ini:2: .*fancy"),
    Case("features-corrupt-tfrecord", ["features", "apply", "s.ini", "d.tfrecord", "--out", "o.h5"],
         {"s.ini": SPEC, "d.tfrecord": BAD_DATA_CRC}, 1, r"record 1"),
    Case("features-no-out", ["features", "apply", "s.ini", "d.tfrecord"], {"s.ini": SPEC, "d.tfrecord": GOOD_RECORDS},
         2, r"--out"),
    Case("features-out-is-in", ["features", "apply", "s.ini", "d.h5", "--out", "d.h5"],
         {"s.ini": SPEC, "d.h5": GOOD_RECORDS}, 2, r"--out d\.h5 is the input file d\.h5 itself"),
    Case("features-spec-endless", ["features", "apply", "/dev/zero", "d.tfrecord", "--out", "o.h5"],
         {"d.tfrecord": GOOD_RECORDS}, 2, r"/dev/zero is not a regular file"),
    Case("features-nothing", ["features"], {}, 2, r"expected 'features apply SPEC"),
    Case("features-unknown-command", ["features", "bogus"], {}, 2, r"bogus"),
]


def _regroup(path, name):
    with h5py.File(path, "a") as f:
        del f[name]
        f.create_group(name)


# ------------------------------------------------------------------------------------------------ the test
@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Results files the rows copy: a real one-point sweep ('tiny') and a q/k/v input file ('qkv')."""
    tmp = tmp_path_factory.mktemp("catalogue")
    (tmp / "t.ini").write_text(TINY_INI)
    mechbench("sweep", tmp / "t.ini", "--out", tmp / "tiny.h5", "--quiet")
    qkv()(tmp / "qkv.h5")
    return tmp


def _make(work, files, results):
    for name, content in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content == DIR:
            path.mkdir()
        elif content == FIFO:
            os.mkfifo(path)
        elif isinstance(content, tuple) and content[0] == "copy":
            shutil.copyfile(results / f"{content[1]}.h5", path)
        elif isinstance(content, tuple) and content[0] == "truncate":
            path.write_bytes((results / f"{content[1]}.h5").read_bytes()[: content[2]])
        else:
            content(path)


def snapshot(work):
    """Every entry under work: name -> (type, size, mtime, sha256) for files, the type alone for the others (a folder's
    mtime moves when a temporary is made and removed in it)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(work):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            if path.is_file():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                state[str(path.relative_to(work))] = (st.st_mode >> 12, st.st_size, st.st_mtime_ns, digest)
            else:
                state[str(path.relative_to(work))] = (st.st_mode >> 12,)
    return state


def test_catalogue_size(capsys):
    ids = [c.id for c in CATALOGUE]
    assert len(ids) == len(set(ids)), "duplicate row ids"
    tagged = {i.split("-")[0] for i in ids if i.startswith("i13.")}
    assert tagged == {f"i13.{n}" for n in range(1, 11)}, tagged
    commands = {c.argv[0] for c in CATALOGUE if c.argv}
    assert commands >= {"run", "sweep", "eval", "plot", "export", "compare", "fit", "claims", "machine", "describe",
                        "list", "rf", "params", "tfrecord", "features"}
    with capsys.disabled():  # shown in the test run's output: the catalogue's size goes in the closing note
        print(f"\nbad-input catalogue: {len(CATALOGUE)} cases over {len(commands)} commands")
    assert len(CATALOGUE) >= 60


@pytest.mark.parametrize("case", CATALOGUE, ids=[c.id for c in CATALOGUE])
def test_bad_input(case, results, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    if case.disk:
        (work / "disk").mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(work / "disk")]
        if subprocess.run(mount, capture_output=True).returncode:
            pytest.skip("cannot mount a small tmpfs here (needs root)")
        (work / "disk" / "fill").write_bytes(b"\0" * 60 * 1024)
    try:
        _run_case(case, work, results)
    finally:
        if case.disk:
            subprocess.run(["umount", str(work / "disk")], check=False)


def _run_case(case, work, results):
    _make(work, case.files, results)
    argv = [a.replace("{root}", str(ROOT)) for a in case.argv]
    before = snapshot(work)
    held = None
    if case.hold:  # another process's writer lock (HDF5 takes flock on the whole file)
        held = open(work / case.hold, "rb")
        fcntl.flock(held, fcntl.LOCK_EX)
    try:
        env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
        proc = subprocess.run([str(BINARY), *argv], capture_output=True, text=True, cwd=work, env=env, timeout=120)
    finally:
        if held:
            held.close()
    lines = proc.stderr.splitlines()
    assert proc.returncode == case.rc, f"exit {proc.returncode}, expected {case.rc}; stderr:\n{proc.stderr}"
    assert len(lines) == 1 and lines[0].strip(), f"stderr is not one line:\n{proc.stderr}"
    assert re.search(case.regex, lines[0]), f"{case.regex!r} not in: {lines[0]}"
    assert lines[0].startswith("mechbench"), lines[0]
    assert proc.stdout == "", f"stdout:\n{proc.stdout}"
    after = snapshot(work)
    assert after == before, {"created": sorted(set(after) - set(before)), "removed": sorted(set(before) - set(after)),
                             "changed": sorted(k for k in before if k in after and before[k] != after[k])}
