"""The memory guard's models against measured memory, for every registered kernel (issue 13 item 11).

`--max-mem` admits a point when inputs + outputs + the kernel's workspace model fit; every buffer is zeroed
(mb_alloc), so a model below the real peak lets points through that reach the OOM killer. `mechbench run --json`
reports peak_rss_bytes: the peak RSS increase over workload creation, setup, the timed runs, teardown and the oracle
checks (Linux: VmHWM after resetting it through /proc/self/clear_refs). At one point per kernel, chosen so the
model is tens of MiB (against a process baseline below 1 MiB), the test asserts

    measured peak <= 1.25 x (workspace_bytes + input_bytes) + ALLOWANCE
    measured peak >= 0.3 x (workspace_bytes + input_bytes)          (a model that over-reserves refuses points)

ALLOWANCE (4 MiB) covers what no model counts: library pages touched on first use, Google Benchmark's state, the
oracle's per-thread rows, and the part of OpenBLAS's preallocated GEMM buffer a call touches (measured: 0.5-1 MiB
for kernels without BLAS, up to ~5 MiB with sgemm at these sizes). It is kept small on purpose: with 8 MiB the
Linformer model that missed setup's float64 copies of E and F (57.5 MiB measured against 41 MiB) would pass.
The kernels run in two processes at a time, one thread each; --check-rows 32 keeps the oracles short (their memory
does not depend on the number of rows checked)."""
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import BINARY, ROOT

# Under AddressSanitizer (`make sanitize`) every allocation carries redzones and shadow memory, so resident memory is
# not the program's own: the models are checked on the normal build only.
pytestmark = pytest.mark.skipif("ASAN_OPTIONS" in os.environ,
                                reason="peak RSS under ASan includes its shadow memory and redzones")

MIB = 1 << 20
RATIO_MAX, RATIO_MIN, ALLOWANCE = 1.25, 0.3, 4 * MIB
MODEL_MIN = 16 * MIB  # a point must be large enough that the baseline does not hide a missing buffer

# The point of each family (the longest matching family prefix), then per-kernel overrides.
FAMILY_POINTS = {
    "attention": "--n 4096 --heads 8",
    "ssm.hippo": "--n 65536 --batch 128 --rank 4",
    "ssm.s4": "--n 65536 --d 64 --rank 8",
    "ssm.s4d": "--n 65536 --d 64 --rank 8",
    "ssm.mamba": "--n 16384 --d 64",
    "ssm.retnet": "--n 4096 --heads 8",
    "ssm.rwkv": "--n 16384 --d 128",
    "ssm.lru": "--n 32768 --d 64",
    "gau": "--n 2048",
    "peft": "--n 2048 --d 2048",
    "peft.prefix": "--n 4096 --heads 8",
    "peft.svd": "--n 512 --d 4096",
    "basics.perceptron": "--n 65536 --d 128 --param max_epochs=2",
    "basics.conv_bn": "--batch 16 --channels 8 --height 128 --width 128",
    "vision": "--channels 64 --height 256 --width 256",
    "vision.conv_transpose2d": "--channels 64 --height 128 --width 128 --scale 2",
    "vision.max_pool2d": "--channels 128 --height 256 --width 256",
    "selftest": "--n 8388608 --param work=1",
    "data.features": "--n 262144 --features 32",
    "data.tfrecord": "--n 8192 --record_bytes 4096",
}
KERNEL_POINTS = {
    "attention.linear.elu_rnn": "--n 4096 --heads 8 --causal",  # causal-only forms
    "attention.linear.elu_chunked": "--n 4096 --heads 8 --causal",
    "attention.linear.elu_decode": "--n 4096 --heads 8 --causal",
    "ssm.rwkv.wkv_direct": "--n 1024 --d 2048",  # O(T^2 C): T <= 4096
    "peft.lora.merge": "--d 4096 --rank 64",  # no n axis
    "vision.upsample.linear": "--channels 4096 --width 4096",  # 1-D
    "vision.upsample.trilinear": "--channels 16 --height 64 --width 64",  # 3-D: D = H
}


def registered_kernels():
    """(name, family) of every registered kernel, aliases left out (they are the same kernel)."""
    out = subprocess.run([str(BINARY), "list"], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    rows = [line.split() for line in out.splitlines()[1:]]
    return [(r[0], r[1]) for r in rows if len(r) > 1 and r[1] != "alias"]


KERNELS = registered_kernels() if BINARY.exists() else []


def point_of(kernel, family):
    if kernel in KERNEL_POINTS:
        return KERNEL_POINTS[kernel]
    prefixes = [f for f in FAMILY_POINTS if family == f or family.startswith(f + ".")]
    return FAMILY_POINTS[max(prefixes, key=len)] if prefixes else None


def measure(kernel, family):
    point = point_of(kernel, family)
    if point is None:
        return {"error": f"no point for family {family}: add it to FAMILY_POINTS"}
    args = [str(BINARY), "run", kernel, *point.split(), "--reps", "1", "--min-time", "0.001", "--check-rows", "32",
            "--json"]
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if proc.returncode != 0:
        return {"error": f"{' '.join(args[1:])} exited {proc.returncode}: {proc.stderr.strip()}"}
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def measured(request):
    """The rows of the kernels selected in this session (-k filters), measured two at a time."""
    selected = {item.callspec.params["kernel"] for item in request.session.items
                if hasattr(item, "callspec") and "kernel" in item.callspec.params}
    todo = [(k, f) for k, f in KERNELS if k in selected]
    with ThreadPoolExecutor(2) as pool:
        return dict(zip((k for k, _ in todo), pool.map(lambda kf: measure(*kf), todo)))


def test_every_family_has_a_point():
    assert len(KERNELS) >= 70
    assert [k for k, f in KERNELS if point_of(k, f) is None] == []


@pytest.mark.parametrize("kernel", [k for k, _ in KERNELS])
def test_peak_memory_within_the_model(measured, kernel):
    row = measured[kernel]
    assert "error" not in row, row.get("error")
    assert row["verdict"] == "pass", row["message"]
    model = row["workspace_bytes"] + row["input_bytes"]
    peak = row["peak_rss_bytes"]
    assert peak is not None, "peak RSS not measured (needs Linux /proc/self/clear_refs)"
    detail = (f"{kernel}: measured peak {peak / MIB:.1f} MiB, model {model / MIB:.1f} MiB (workspace "
              f"{row['workspace_bytes'] / MIB:.1f} + tensors {row['input_bytes'] / MIB:.1f}), ratio {peak / model:.2f}")
    assert model >= MODEL_MIN, f"point too small to test the model: {detail}"
    assert peak <= RATIO_MAX * model + ALLOWANCE, f"model below the real peak: {detail}"
    assert peak >= RATIO_MIN * model, f"model far above the real peak: {detail}"
