"""End-to-end tests of `mechbench rf`: the shipped nets' fields in the printed table (published values), the impulse
check, the ERF and checkerboard heat maps written as PNG + SVG; bad net files and unknown nets give exit 2 and
exactly one line on stderr."""
import re
import shutil

import pytest

from conftest import mechbench


def layers(stdout):
    """{layer: (r, rest)} of the report's rows."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\S.{29}) (\S+)\s+(.*)$", line)
        if m and not line.startswith("  - "):
            out[m.group(1).strip()] = (m.group(2), m.group(3))
    return out


def test_alexnet_pool5_is_195():
    proc = mechbench("rf", "alexnet")
    rows = layers(proc.stdout)
    assert rows["pool5"][0] == "195"
    assert rows["pool5"][1].split()[0] == "32"  # jump
    assert rows["conv1"][0] == "11"
    assert "both agree on all 8 layers" in proc.stdout
    assert proc.stderr == ""


@pytest.mark.parametrize("net, layer, r", [
    ("vgg16", "conv5_3", "196"), ("vgg16", "pool5", "212"), ("resnet50", "layer4.2", "427"),
    ("resnet50_v1", "res5.2", "483"), ("resnet101_v1", "res5.2", "1027"), ("resnet152_v1", "res5.2", "1507"),
    ("mobilenet_v1", "Conv2d_13_pointwise", "315"), ("inception_v3", "Mixed_7c", "1311"),
])
def test_published_fields(net, layer, r):
    assert layers(mechbench("rf", net).stdout)[layer][0] == r


def test_measure_agrees_and_input_changes_sizes():
    proc = mechbench("rf", "vgg16", "--measure", "--input", "225")
    assert proc.stdout.count("0 differ from the formula") == 2
    assert "input 225 x 225" in proc.stdout
    assert layers(proc.stdout)["pool5"][1].split()[3] == "7"  # out


def test_heat_maps(tmp_path):
    if not shutil.which("gnuplot"):
        pytest.skip("gnuplot not installed")
    proc = mechbench("rf", "--checkerboard", "--out", tmp_path / "cb")
    for name in ("k3_s2", "k4_s2", "resize_k3"):
        assert (tmp_path / f"cb_{name}.png").stat().st_size > 1000
        assert (tmp_path / f"cb_{name}.svg").exists()
    assert "wrote" in proc.stdout
    proc = mechbench("rf", "--erf", "--depths", "2,4", "--trials", "4", "--out", tmp_path / "erf")
    assert (tmp_path / "erf_depth4.png").exists() and (tmp_path / "erf_depth2.svg").exists()
    assert "fitted exponents" in proc.stdout


def test_bad_net_file_names_the_line(tmp_path):
    bad = tmp_path / "bad.net"
    bad.write_text("input 224\nconv 3 1 1\nconv 3 x 1\n")
    proc = mechbench("rf", bad, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert f"{bad}:3: conv stride 'x'" in proc.stderr


def test_unknown_net_lists_the_available_ones():
    proc = mechbench("rf", "lenet", check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    assert "unknown net 'lenet'" in proc.stderr
    for name in ("alexnet", "vgg16", "resnet50_v1", "inception_v3", "mobilenet_v1"):
        assert name in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["alexnet", "--input", "0"], ["--input 0"]),
    (["alexnet", "--input", "5"], ["experiments/nets/alexnet.net:7: layer conv1", "larger --input"]),
    (["--erf", "--activation", "tanh"], ["--activation tanh"]),
    (["--erf", "alexnet"], ["give one of NET"]),
])
def test_usage_errors_are_one_line(args, words):
    proc = mechbench("rf", *args, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_help():
    assert "rf --erf" in mechbench("rf", "--help").stdout
    assert "mechbench rf NET" in mechbench("--help").stdout
