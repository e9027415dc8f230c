"""Shared fixtures: the mechbench binary and a helper to run it.

MECHBENCH=path (relative to the source root, or absolute) runs the tests against another binary: `make sanitize`
points them at build-san/mechbench (ASan + UBSan)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / os.environ.get("MECHBENCH", "mechbench")


def mechbench(*args, check=True, env=None, timeout=600):
    """Run ./mechbench with args; returns CompletedProcess (text). check=True asserts exit 0."""
    proc = subprocess.run([str(BINARY), *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout,
                          cwd=ROOT)
    if check:
        assert proc.returncode == 0, f"mechbench {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session", autouse=True)
def built_binary():
    assert BINARY.exists(), f"build {BINARY} first (make)"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
