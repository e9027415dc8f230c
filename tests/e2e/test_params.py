"""End-to-end tests of `mechbench params MODEL`: the papers' figures appear in the output with the stated assumptions;
every bad input gives exit 2 and exactly one line on stderr, nothing on stdout."""
import re
import shutil

import pytest

from conftest import ROOT, mechbench


def rows(stdout):
    """{label: (value, detail)} of the report's aligned rows."""
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\S.{29}) (\S.{19}|\S+) ?(.*)$", line)
        if m and not line.startswith("  - "):
            out[m.group(1).strip()] = (m.group(2).strip(), m.group(3).strip())
    return out


def test_lora_on_gpt3_175b():
    proc = mechbench("params", "gpt3-175b", "--method", "lora", "--r", "4", "--targets", "q,v")
    r = rows(proc.stdout)
    assert r["trainable parameters"][0] == "18,874,368"
    assert r["total parameters"][0] == "174,604,259,328"
    assert r["fewer than the model"][0] == "9251x"
    assert r["checkpoint"][0] == "37.7 MB" and "37,748,736 bytes" in r["checkpoint"][1]
    assert r["training memory"][0] == "349.5 GB"
    assert "Rajbhandari et al. 2020" in proc.stdout and "16 bytes per trainable parameter" in proc.stdout
    assert "Brown et al. 2020" in proc.stdout
    assert proc.stderr == ""


def test_full_checkpoint_of_gpt3_is_350_gb():
    r = rows(mechbench("params", "gpt3-175b").stdout)
    assert r["checkpoint"][0] == "349.2 GB"
    assert r["share of the model"][0] == "100%"


def test_prefix_on_gpt2_medium():
    r = rows(mechbench("params", "gpt2-medium", "--method", "prefix", "--lp", "10").stdout)
    assert r["trainable parameters"][0] == "491,520"
    assert r["share of the model"][0] == "0.139%"
    assert r["total parameters"][0] == "354,823,168"


def test_adapters_on_bert_large():
    proc = mechbench("params", "bert-large", "--method", "adapter", "--m", "64")
    r = rows(proc.stdout)
    assert r["trainable parameters"][0] == "6,343,680"
    assert r["share of the model"][0] == "1.89%"
    assert "Houlsby" in proc.stdout


def test_the_seeds_qwen_budgets():
    proc = mechbench("params", "qwen1.5-7b", "--seq", "2048", "--batch", "1")
    r = rows(proc.stdout)
    assert r["training memory"][0] == "154.1 GB" and r["80 GB GPUs"][0] == "2"
    assert r["activations"][0] == "30.6 GB"
    assert "Korthikanti et al. 2022" in proc.stdout and "34 + 5 a s / h" in proc.stdout
    r = rows(mechbench("params", "qwen1.5-7b").stdout)
    assert r["training memory"][0] == "123.5 GB" and r["80 GB GPUs"][0] == "2"
    r = rows(mechbench("params", "qwen1.5-72b").stdout)
    assert r["training memory"][0] == "1156.6 GB" and r["80 GB GPUs"][0] == "15"


def test_fp32_and_a_model_path():
    r = rows(mechbench("params", "experiments/models/llama-7b.ini", "--precision", "fp32").stdout)
    assert r["total parameters"][0] == "6,738,415,616"
    assert r["checkpoint"][0] == "27.0 GB"


def test_help_and_usage_list_the_tool():
    assert "--method full|lora|adapter|prefix|prompt" in mechbench("params", "--help").stdout
    assert "mechbench params MODEL" in mechbench("--help").stdout


@pytest.mark.parametrize("args, words", [
    (["gpt5"], ["unknown model 'gpt5'", "gpt3-175b", "qwen1.5-72b"]),
    (["gpt3-175b", "--method", "bitfit"], ["unknown method 'bitfit'", "full, lora, adapter, prefix, prompt"]),
    (["gpt3-175b", "--method", "lora", "--r", "20000"], ["r = 20000", "1..12288"]),
    (["gpt3-175b", "--method", "lora", "--r", "0"], ["r = 0", "1..12288"]),
    (["gpt3-175b", "--method", "lora", "--r", "-2"], ["r = -2"]),
    (["gpt3-175b", "--method", "lora", "--targets", "q,w"], ["'w'", "q,k,v,o,gate,up,down"]),
    (["gpt2-medium", "--method", "lora", "--targets", "gate"], ["gate", "GELU"]),
    (["gpt2-medium", "--method", "prefix", "--lp", "-10"], ["L_p = -10"]),
    (["gpt2-medium", "--method", "adapter", "--m", "0"], ["m = 0", "1..1024"]),
    (["gpt2-medium", "--precision", "fp8"], ["fp8", "mixed, fp32"]),
    (["gpt2-medium", "--seq", "128"], ["--seq 128 --batch 0"]),
    (["gpt2-medium", "--r", "x"], ["--r x", "integer"]),
    (["gpt2-medium", "--colour", "red"], ["unknown option --colour"]),
    (["gpt2-medium", "bert-base"], ["unexpected argument 'bert-base'"]),
    ([], ["no MODEL"]),
])
def test_bad_input_exit_2_one_line(args, words):
    proc = mechbench("params", *args, check=False)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mechbench params: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("text, where", [
    ("[model]\nname = x\nlayers = many\n", ":3: layers = many"),
    ("[model]\nname = x\nffn_kind = relu\n", ":3: ffn_kind = relu (allowed: gelu,swiglu)"),
    ("[model]\nsource = s\n\nwhat\n", ":4: malformed line"),
    ("[model]\nname = x\n", ": missing key 'source'"),
])
def test_malformed_model_file_names_file_and_line(tmp_path, text, where):
    path = tmp_path / "m.ini"
    path.write_text(text)
    proc = mechbench("params", path, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and f"{path}{where}" in lines[0], proc.stderr


def test_the_repository_claims_verdicts(tmp_path):
    """The peft_params claims run their probe (exact values): every verdict is the one documented in the file."""
    (tmp_path / "claims").mkdir()
    shutil.copy(ROOT / "experiments" / "claims" / "peft_params.ini", tmp_path / "claims")
    proc = mechbench("claims", "--dir", tmp_path / "claims", "--report", tmp_path / "claims.md", "--results",
                     tmp_path / "results", "--plots", "", "--quiet")
    verdicts = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\S+)\s.*?\s(not reproduced|reproduced|inconclusive)$", line)
        if m:
            verdicts[m.group(1)] = m.group(2)
    want = {cid: "reproduced" for cid in (
        "lora_gpt3_trainable", "lora_gpt3_10000x", "lora_gpt3_checkpoint", "full_gpt3_checkpoint",
        "lora_gpt3_training_memory", "prefix_gpt2_medium", "prefix_gpt2_medium_share", "houlsby_bert_large_m64",
        "seed_qwen7b_full_gpus", "seed_qwen7b_full_memory")}
    want["seed_qwen72b_full_gpus"] = "not reproduced"
    assert verdicts == want, proc.stdout
