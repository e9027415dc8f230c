"""Kernel source hashes (scripts/source_hashes.sh -> MB_SOURCE_HASH): a kernel's hash covers the code it runs in other
folders, so --resume and the claims' caches re-measure it when shared code changes."""

import subprocess

from conftest import ROOT, mechbench


def deps_of(kernel):
    out = subprocess.run(["bash", "scripts/source_hashes.sh", "build/isa/%/", kernel], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0].startswith(f"MB_HASH_{kernel} := ") and len(out[0].split(" := ")[1]) == 16
    targets, deps = out[1].split(": ")
    assert targets.split() == [f"build/isa/{isa}/{kernel[:-2]}.o" for isa in ("portable", "avx2", "avx512")]
    return out[0].split(" := ")[1], deps.split()


def test_hash_follows_includes_across_folders():
    _, deps = deps_of("kernels/peft/prefix_flash.c")
    assert deps == sorted(deps)
    # its own file and family, the attention engine it calls (the .c beside the header) and that engine's
    # AVX-512-only include (inside #if: the same list for every ISA copy)
    for f in ("kernels/peft/prefix_flash.c", "kernels/peft/family.c", "kernels/attention/family_flash.h",
              "kernels/attention/family_flash.c", "harness/core/vexp.h", "harness/core/mechbench.h"):
        assert f in deps, f
    _, deps = deps_of("kernels/ssm/mamba_scan_seq.c")
    assert "harness/core/vexp.h" in deps and "kernels/ssm/family_mamba.c" in deps
    assert not any(d.startswith("kernels/attention/") for d in deps)


def test_binary_carries_the_scripts_hash():
    for kernel, name in (("kernels/attention/softmax_flash.c", "attention.softmax.flash"),
                         ("kernels/peft/prefix_flash.c", "peft.prefix.flash")):
        want, _ = deps_of(kernel)
        assert f"(hash {want})" in mechbench("describe", name).stdout
