"""End-to-end tests of claims, compare, fit, machine and the roofline/scaling plots. No wall-clock assertions:
timing verdicts are not checked, only that the machinery runs, reports and keeps its exit-status contract."""

import re

import h5py
import pytest

from conftest import ROOT, mechbench

CLAIMS_INI = """
[claim tiny_slope]
source = test
statement = softmax time grows with n
paper = 2
assert = slope
kernels = attention.softmax.naive
fit_range = all
expect = 1..3
n = 64:1024:x2
d = 16
threads = 1
repetitions = 3
min_time = 0.001

[claim tiny_cross]
source = test
statement = a crossover is reported
kind = description
assert = crossover
kernels = attention.softmax.naive, attention.linear.elu
n = 16:256:x2
d = 16
threads = 1
repetitions = 3
min_time = 0.001

[claim tiny_equal]
source = Shen 2018
statement = efficient attention with scaling normalisation equals dot-product attention
assert = equal
kernels = attention.efficient_scaling
metric = own_error
n = 100
d = 16
check_rows = 0
repetitions = 1
min_time = 0.001

[claim tiny_missing]
source = test
statement = a kernel that does not exist yet
assert = slope
kernels = attention.not_yet_written
expect = 1..2
fit_range = all
n = 64:1024:x2

[claim tiny_probe]
source = test
statement = rank of phi(Q) phi(K)^T <= d
assert = value
probe = spectrum
variants = matrix=linear
expect = 0..1
d = 4, 8
n = 32
"""


@pytest.fixture()
def claims_dir(tmp_path):
    d = tmp_path / "claims"
    d.mkdir()
    (d / "tiny.ini").write_text(CLAIMS_INI)
    return tmp_path


def run_claims(tmp, *extra, check=True):
    return mechbench("claims", "--dir", tmp / "claims", "--results", tmp / "res", "--plots", tmp / "plots",
                     "--report", tmp / "claims.md", "--replicates", "200", *extra, check=check)


def test_claims_table_report_plots_and_reuse(claims_dir):
    proc = run_claims(claims_dir)
    out = proc.stdout
    assert "claim" in out.splitlines()[0] and "verdict" in out.splitlines()[0]
    for cid in ("tiny_slope", "tiny_cross", "tiny_equal", "tiny_missing", "tiny_probe"):
        assert cid in out
    line = next(l for l in out.splitlines() if l.startswith("tiny_missing"))
    assert "inconclusive" in line and "not registered" in line
    assert "reproduced" in next(l for l in out.splitlines() if l.startswith("tiny_equal"))
    assert "reproduced" in next(l for l in out.splitlines() if l.startswith("tiny_probe"))
    report = (claims_dir / "claims.md").read_text()
    assert "| claim | paper says | measured | expected | verdict |" in report
    assert "## tiny_slope" in report and "tiny_slope.png" in report
    assert (claims_dir / "plots" / "tiny_slope.png").stat().st_size > 1000
    assert (claims_dir / "plots" / "tiny_slope.svg").read_text().lstrip().startswith("<?xml")
    # the claims' sweeps report progress on stderr; their summary tables stay out of the claims table
    assert "err(own)" not in out and "claim tiny_slope: sweep ->" in proc.stderr
    # a timing claim sweeps in 3 interleaved rounds by default: 5 points x 3 rounds rows, 3 repetitions each
    assert "[1/15] attention.softmax.naive" in proc.stderr
    with h5py.File(claims_dir / "res" / "tiny_slope.h5") as f:
        assert len(f["points"]) == 15
        assert sorted(set(f["points"]["round"])) == [0, 1, 2]
        assert len(f["samples"]) == 45
    # the rounds are strata: a slope within each round, their median; the bootstrap resamples within each round
    assert "median of 3 rounds' slopes; bootstrap of the samples in each round" in (claims_dir / "claims.md").read_text()
    # descriptions are tallied apart from the reproductions
    tally = out.splitlines()[-1]
    assert "reproduced" in tally and "descriptions of our own measurements:" in tally
    cross = [l for l in out.splitlines() if l.startswith("tiny_cross")]
    assert cross and all("description: " in l for l in cross)
    assert "between n = " in cross[0] or "none in n" in cross[0] or "no crossover" in cross[0] or "faster" in cross[0]
    assert "### Descriptions of our own measurements" in report
    assert (claims_dir / "plots" / "tiny_cross.png").stat().st_size > 1000
    # a second run reuses the stored points (same source hash): nothing is measured again
    proc = run_claims(claims_dir, "tiny_slope")
    assert "15 of 15 points already in" in proc.stderr
    assert "tiny_cross" not in proc.stdout


def test_claims_bad_file_is_an_error(tmp_path):
    d = tmp_path / "claims"
    d.mkdir()
    (d / "bad.ini").write_text("[claim x]\nsource = s\nstatement = t\nassert = slope\nkernels = a\nexpect = 1..2\nbogus = 1\n")
    proc = run_claims(tmp_path, check=False)
    assert proc.returncode == 1
    assert "bad.ini:7" in proc.stderr and "bogus" in proc.stderr
    assert not (tmp_path / "claims.md").exists()


def test_claims_slope_needs_five_sizes(tmp_path):
    d = tmp_path / "claims"
    d.mkdir()
    (d / "few.ini").write_text("[claim few]\nsource = s\nstatement = t\nassert = slope\n"
                               "kernels = attention.softmax.naive\nexpect = 1..3\nfit_range = all\nn = 64, 128, 256, 512\n")
    proc = run_claims(tmp_path, check=False)
    assert proc.returncode == 1
    assert "few.ini:8" in proc.stderr and "at least 5" in proc.stderr
    assert not (tmp_path / "claims.md").exists()


def test_repository_claims_derive_or_describe():
    """Every claim of experiments/claims (but data_*, another family's files) either derives its expected range from
    the paper's number (a `derivation` key) or is marked `kind = description`; none expects a bare `exists`."""
    import configparser
    for path in sorted((ROOT / "experiments" / "claims").glob("*.ini")):
        if path.name.startswith("data_"):
            continue
        cp = configparser.ConfigParser(inline_comment_prefixes=(" ;",), interpolation=None, strict=False)
        cp.read(path)
        for sec in cp.sections():
            c = cp[sec]
            kind = c.get("kind", "reproduction")
            assert kind in ("reproduction", "description"), (path.name, sec)
            if kind == "reproduction":
                assert "derivation" in c and len(c["derivation"]) > 20, f"{path.name} [{sec}]: no derivation"
                assert c.get("expect", "") != "exists", f"{path.name} [{sec}]: exists cannot fail"


def test_claims_list_and_unknown_id(claims_dir):
    proc = mechbench("claims", "--dir", claims_dir / "claims", "--list")
    assert "tiny_slope" in proc.stdout and "slope" in proc.stdout
    proc = mechbench("claims", "--dir", claims_dir / "claims", "nope", check=False)
    assert proc.returncode == 2 and "no claim" in proc.stderr


def test_repository_claims_parse():
    proc = mechbench("claims", "--list")
    ids = [l.split()[0] for l in proc.stdout.splitlines()]
    for cid in ("softmax_slope", "linear_slope", "strided_slope", "crossover_softmax_linear", "efficient_scaling_equal",
                "performer_mse_iid", "performer_orthogonal_below_iid", "linformer_error_decreasing",
                "linformer_time_linear", "linear_decode_flat", "softmax_decode_linear", "linear_score_rank",
                "softmax_score_rank", "recall_softmax_exact", "recall_linear_collapses"):
        assert cid in ids


COMPARE_INI = """
[experiment]
name = cmp
kernels = attention.softmax.naive
seed = 3
repetitions = 9
min_time = 0.02
check_rows = 8

[axes]
n = 1024, 2048
d = 64
threads = 1
"""


SELFTEST_INI = """
[experiment]
name = cmp
kernels = selftest.affine_chain
seed = 3
repetitions = 9
min_time = 0.02
check_rows = 8

[axes]
n = 4096, 8192
threads = 1
params = work=WORK
"""


def test_compare_flags_a_slowed_kernel_deterministically(tmp_path):
    """The slowdown is made, not found: selftest.affine_chain's declared `work` sets its arithmetic exactly (4x),
    whatever the machine's speed; --ignore-params matches the points across the two settings."""
    fast_ini, slow_ini = tmp_path / "fast.ini", tmp_path / "slow.ini"
    fast_ini.write_text(SELFTEST_INI.replace("WORK", "256"))
    slow_ini.write_text(SELFTEST_INI.replace("WORK", "1024"))
    fast, slow = tmp_path / "fast.h5", tmp_path / "slow.h5"
    mechbench("sweep", fast_ini, "--out", fast, "--quiet")
    mechbench("sweep", slow_ini, "--out", slow, "--quiet")
    with h5py.File(slow, "r") as f:
        p = f["points"][...]
    assert set(p["params"].tolist()) == {b"work=1024"} and (p["verdict"] == b"pass").all()
    unmatched = mechbench("compare", fast, slow, check=False)
    assert unmatched.returncode == 0 and "0 points compared" in unmatched.stdout, unmatched.stdout
    bad = mechbench("compare", fast, slow, "--ignore-params", "work", "--threshold", "0.25", check=False)
    assert bad.returncode == 1, bad.stdout
    assert "2 points compared" in bad.stdout and bad.stdout.count("REGRESSION") >= 2, bad.stdout
    # the reverse direction is an improvement, not a regression
    better = mechbench("compare", slow, fast, "--ignore-params", "work", "--threshold", "0.25", check=False)
    assert better.returncode == 0 and "improvement" in better.stdout


def test_compare_finds_nothing_between_identical_samples(tmp_path):
    """Same samples, same point: ratio 1, no verdict but `same`, exit 0 (whatever the machine's speed; whether two
    re-runs agree is a property of the machine, measured by `make bench`, not asserted here)."""
    ini = tmp_path / "cmp.ini"
    ini.write_text(COMPARE_INI)
    a = tmp_path / "a.h5"
    mechbench("sweep", ini, "--out", a, "--quiet")
    same = mechbench("compare", a, a, check=False)
    assert same.returncode == 0 and "2 points compared" in same.stdout, same.stdout
    assert "geometric mean B/A = 1" in same.stdout and "0 regressions, 0 improvements" in same.stdout, same.stdout
    fit = mechbench("fit", a)
    assert "attention.softmax.naive" in fit.stdout or "no fit" in fit.stdout


def test_compare_usage_errors(tmp_path):
    proc = mechbench("compare", "only_one.h5", check=False)
    assert proc.returncode == 2 and "two results files" in proc.stderr
    proc = mechbench("compare", "a.h5", "b.h5", "--threshold", "-1", check=False)
    assert proc.returncode == 2 and "--threshold" in proc.stderr
    proc = mechbench("compare", tmp_path / "missing.h5", tmp_path / "missing2.h5", check=False)
    assert proc.returncode == 1


def test_fit_reports_models(tmp_path):
    ini = tmp_path / "fit.ini"
    ini.write_text(COMPARE_INI.replace("n = 1024, 2048", "n = 64:1024:x2").replace("repetitions = 9", "repetitions = 2")
                   .replace("min_time = 0.02", "min_time = 0.002"))
    out = tmp_path / "fit.h5"
    mechbench("sweep", ini, "--out", out, "--quiet")
    proc = mechbench("fit", out, "--all")
    assert "best t =" in proc.stdout and "AICc" in proc.stdout and "intercept" in proc.stdout
    assert proc.stdout.count("t = ") >= 5  # the competing models


SEVEN_KERNELS = ["attention.softmax.naive", "attention.softmax.flash", "attention.linear.elu", "attention.linear.cos",
                 "attention.efficient", "attention.sparse.local", "attention.sparse.strided"]


def check_panels(svg, kernels):
    """A figure of more than 6 series is small multiples (plot/panels.h): at most 6 series a panel, each kernel in
    some panel's legend, the provenance footer (machine | threads | date). Returns the panel titles."""
    assert re.search(r">[^<>|]+ \| +threads 1, 2 +\| +measured \d{4}-\d\d-\d\d \d\d:\d\d UTC<", svg), "no footer"
    titles = [t for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg) if re.match(r"(threads|n|d)=\S+ |attention\.", t)
              and t.endswith("*")]
    assert len(titles) >= 2, f"one panel: {titles}"
    legends = re.findall(r"<title>([^<]*)</title>", svg)
    for k in kernels:
        assert k in legends, f"{k} not in any legend"
    series = [t for t in legends if t.split()[0] in kernels]
    assert len(series) <= 6 * len(titles), f"{len(series)} series in {len(titles)} panels"
    return titles


def test_machine_and_roofline_and_scaling(tmp_path):
    m = tmp_path / "machine.h5"
    proc = mechbench("machine", "--out", m, "--reps", "1")
    assert "FMA peak" in proc.stdout and "sgemm" in proc.stdout and "STREAM triad" in proc.stdout
    assert "OPENBLAS_CORETYPE" in proc.stdout
    with h5py.File(m) as f:
        for key in ("fma_gflops_1core", "fma_gflops_all", "fma_isa", "sgemm_gflops_1core", "sgemm_gflops_all",
                    "triad_gbs_all", "openblas_coretype"):
            assert key in f.attrs
        assert f.attrs["fma_gflops_1core"] > 0 and f.attrs["sgemm_gflops_1core"] > 0 and f.attrs["triad_gbs_all"] > 0
        flags = open("/proc/cpuinfo").read()
        want = "avx512" if " avx512f" in flags else "avx2" if " avx2" in flags and " fma" in flags else "scalar"
        assert f.attrs["fma_isa"].decode() == want  # the widest vector ISA the CPU has
    ini = tmp_path / "sc.ini"
    seven = ", ".join(SEVEN_KERNELS)  # 14 series on the roofline (kernel x threads), 7 scaling curves: small multiples
    ini.write_text(COMPARE_INI.replace("threads = 1", "threads = 1, 2").replace("n = 1024, 2048", "n = 256")
                   .replace("repetitions = 9", "repetitions = 2").replace("min_time = 0.02", "min_time = 0.002")
                   .replace("kernels = attention.softmax.naive", "kernels = " + seven))
    res = tmp_path / "sc.h5"
    mechbench("sweep", ini, "--out", res, "--quiet")
    mechbench("plot", res, "--roofline", "--machine", m, "--out", tmp_path / "p")
    assert (tmp_path / "p_roofline.png").stat().st_size > 1000
    svg = (tmp_path / "p_roofline.svg").read_text()
    assert "roofline: FMA peak" in svg  # the compute roof, not sgemm
    titles = check_panels(svg, SEVEN_KERNELS)
    assert {t.split()[0] for t in titles} == {"threads=1", "threads=2"}  # one set of panels per thread count
    assert svg.count("<text>1 core roof</text>") == svg.count("<text>all cores roof</text>") == len(titles)
    proc = mechbench("plot", res, "--scaling", "--out", tmp_path / "p")
    assert "efficiency" in proc.stdout
    svg = (tmp_path / "p_scaling.svg").read_text()
    titles = check_panels(svg, SEVEN_KERNELS)
    assert svg.count("<text>ideal</text>") == len(titles)  # the ideal line in every panel
    proc = mechbench("plot", res, "--roofline", "--machine", tmp_path / "none.h5", check=False)
    assert proc.returncode == 1 and "mechbench machine" in proc.stderr
