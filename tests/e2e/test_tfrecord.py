"""End-to-end tests of `mechbench tfrecord`: from-csv -> cat/verify/count/stats, compression (inferred from .gz and
given), and every bad input of issue 12: one line on stderr naming the record index and byte offset, exit 1, nothing
on stdout and no file written half-way; --skip-corrupt counts the skipped records; usage errors exit 2. The framing
of the files made here uses an independent bit-by-bit CRC32C."""
import gzip
import json
import re
import struct

from tfrecord_frame import crc32c, frame, masked
from conftest import mechbench




CSV = 'id,score,name,mixed\n1,0.5,"Ann, B",3\n-2,1e3,Bob,x\n7,2,"q""uote",4\n'


def rows(stdout):
    out = {}
    for line in stdout.splitlines():
        m = re.match(r"^  (\S.{29}) (\S+)", line)
        if m:
            out[m.group(1).strip()] = m.group(2)
    return out


def make(tmp_path, name="a.tfrecord", csv=CSV):
    src = tmp_path / "a.csv"
    src.write_text(csv)
    out = tmp_path / name
    proc = mechbench("tfrecord", "from-csv", src, "--out", out)
    return out, proc


def test_from_csv_types_and_cat_json_lines(tmp_path):
    out, proc = make(tmp_path)
    r = rows(proc.stdout)
    assert r["records"] == "3"
    assert (r["id"], r["score"], r["name"], r["mixed"]) == ("int64", "float", "bytes", "bytes")
    lines = mechbench("tfrecord", "cat", out).stdout.splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert list(first) == ["id", "mixed", "name", "score"]  # sorted by name
    assert first["id"] == {"int64": [1]} and first["score"] == {"float": [0.5]}
    assert first["name"] == {"bytes": ["Ann, B"]} and first["mixed"] == {"bytes": ["3"]}
    assert json.loads(lines[1])["score"] == {"float": [1000]}
    assert json.loads(lines[2])["name"] == {"bytes": ['q"uote']}
    assert [p.name for p in tmp_path.iterdir() if ".tmp." in p.name] == []


def test_verify_count_stats(tmp_path):
    out, _ = make(tmp_path)
    r = rows(mechbench("tfrecord", "verify", out).stdout)
    assert r["records"] == "3" and int(r["stream bytes"]) == out.stat().st_size
    assert rows(mechbench("tfrecord", "count", out).stdout)["records"] == "3"
    st = mechbench("tfrecord", "stats", out).stdout
    assert re.search(r"id\s+int64\s+int64, in 3 of 3 records, 1\.\.1 values", st), st


def test_gzip_inferred_and_zlib_given(tmp_path):
    gz, _ = make(tmp_path, "a.tfrecord.gz")
    plain, _ = make(tmp_path, "b.tfrecord")
    assert gzip.decompress(gz.read_bytes()) == plain.read_bytes()
    assert mechbench("tfrecord", "cat", gz).stdout == mechbench("tfrecord", "cat", plain).stdout
    src = tmp_path / "a.csv"
    zz = tmp_path / "c.bin"
    mechbench("tfrecord", "from-csv", src, "--out", zz, "--compression", "zlib")
    assert mechbench("tfrecord", "cat", zz, "--compression", "zlib").stdout == mechbench("tfrecord", "cat", plain).stdout
    bad = mechbench("tfrecord", "cat", zz, check=False)  # zlib bytes read as uncompressed: refused, one line
    assert bad.returncode == 1 and len(bad.stderr.splitlines()) == 1


def three_records(tmp_path):
    recs = [frame(b"\x0a\x00"), frame(b"\x0a\x00"), frame(b"\x0a\x00")]  # empty Examples (Features {})
    return recs


def one_line_failure(proc, index, offset, what, stdout=""):
    """verify and count print nothing on failure; cat streams the records before the bad one (stdout)."""
    assert proc.returncode == 1, proc
    assert proc.stdout == stdout
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"record {index} at byte {offset}: {what}" in lines[0], lines[0]


def test_every_bad_input_names_record_and_offset(tmp_path):
    recs = three_records(tmp_path)
    good = b"".join(recs)
    size = len(recs[0])
    f = tmp_path / "bad.tfrecord"
    # truncated record (the file ends in record 2's data)
    f.write_bytes(good[: 2 * size + 13])
    one_line_failure(mechbench("tfrecord", "verify", f, check=False), 2, 2 * size, "truncated record")
    # bad length CRC
    b = bytearray(good)
    b[size + 9] ^= 1
    f.write_bytes(bytes(b))
    one_line_failure(mechbench("tfrecord", "verify", f, check=False), 1, size, "bad length CRC")
    # bad data CRC
    b = bytearray(good)
    b[2 * size + 12] ^= 0x10
    f.write_bytes(bytes(b))
    one_line_failure(mechbench("tfrecord", "count", f, check=False), 2, 2 * size, "bad data CRC")
    # absurd length: a consistent header claiming 2^40 bytes, and a length over --max-record-bytes
    head = struct.pack("<Q", 1 << 40)
    f.write_bytes(recs[0] + head + struct.pack("<I", masked(crc32c(head))) + b"x" * 20)
    one_line_failure(mechbench("tfrecord", "verify", f, check=False), 1, size, "absurd length")
    f.write_bytes(good)
    one_line_failure(mechbench("tfrecord", "verify", f, "--max-record-bytes", "1", check=False), 0, 0, "absurd length")
    # garbage protobuf (cat parses the records)
    f.write_bytes(recs[0] + frame(b"\x0a\x40\x01"))
    one_line_failure(mechbench("tfrecord", "cat", f, check=False), 1, size, "garbage protobuf", stdout="{}\n")
    # a feature of the wrong wire type inside an otherwise framed Example
    f.write_bytes(frame(b"\x0a\x07\x0a\x05\x0a\x01v\x12\x00\x0d"))
    one_line_failure(mechbench("tfrecord", "cat", f, check=False), 0, 0, "garbage protobuf")


def test_corrupt_gzip_stream(tmp_path):
    gz, _ = make(tmp_path, "a.tfrecord.gz", CSV + "".join(f"{i},{i}.5,name{i},{i}\n" for i in range(200)))
    data = bytearray(gz.read_bytes())
    data[len(data) // 2] ^= 0xFF
    gz.write_bytes(bytes(data))
    proc = mechbench("tfrecord", "verify", gz, check=False)
    assert proc.returncode == 1 and proc.stdout == "" and len(proc.stderr.splitlines()) == 1, proc
    assert re.search(r"record \d+ at byte \d+: (corrupt compressed stream|bad data CRC|bad length CRC)", proc.stderr)
    gz.write_bytes(bytes(data[:30]))  # cut short
    proc = mechbench("tfrecord", "verify", gz, check=False)
    assert proc.returncode == 1 and "record 0 at byte 0: corrupt compressed stream" in proc.stderr


def test_skip_corrupt_counts(tmp_path):
    recs = three_records(tmp_path)
    b = bytearray(b"".join(recs))
    b[len(recs[0]) + 12] ^= 0x10  # record 1's data
    f = tmp_path / "skip.tfrecord"
    f.write_bytes(bytes(b))
    r = rows(mechbench("tfrecord", "verify", f, "--skip-corrupt").stdout)
    assert r["records"] == "2" and r["skipped"] == "1"
    assert len(mechbench("tfrecord", "cat", f, "--skip-corrupt").stdout.splitlines()) == 2
    b[9] ^= 1  # a bad length cannot be skipped
    f.write_bytes(bytes(b))
    one_line_failure(mechbench("tfrecord", "verify", f, "--skip-corrupt", check=False), 0, 0, "bad length CRC")


def test_from_csv_failure_writes_nothing(tmp_path):
    src = tmp_path / "ragged.csv"
    src.write_text("a,b\n1,2\n3\n")
    out = tmp_path / "out.tfrecord"
    proc = mechbench("tfrecord", "from-csv", src, "--out", out, check=False)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1
    assert "line 3: 1 fields, the header has 2" in proc.stderr
    assert list(tmp_path.iterdir()) == [src]
    out.write_bytes(b"old")
    mechbench("tfrecord", "from-csv", src, "--out", out, check=False)
    assert out.read_bytes() == b"old"  # an existing file is left alone


def test_usage_errors_exit_2(tmp_path):
    for args, text in [((), "missing command"), (("bogus", "x"), "unknown command 'bogus'"),
                       (("cat",), "needs a file"), (("cat", "x", "--compression", "lz4"), "'lz4'"),
                       (("from-csv", "a.csv"), "--out"), (("cat", "x", "--max-record-bytes", "-3"), "-3"),
                       (("cat", "x", "--frobnicate"), "--frobnicate")]:
        proc = mechbench("tfrecord", *args, check=False)
        assert proc.returncode == 2, (args, proc)
        assert len(proc.stderr.splitlines()) == 1 and text in proc.stderr, (args, proc.stderr)
    proc = mechbench("tfrecord", "verify", tmp_path / "missing.tfrecord", check=False)
    assert proc.returncode == 1 and "missing.tfrecord" in proc.stderr


def test_run_json_reports_records_per_second():
    """The items model: the row's items = n records, items_per_second = n / median time, unit "records"."""
    proc = mechbench("run", "data.tfrecord.parse", "--n", "64", "--record_bytes", "1024", "--features", "8",
                     "--threads", "1", "--reps", "2", "--min-time", "0.001", "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout.splitlines()[0])
    assert row["verdict"] == "pass"
    assert row["items"] == 64 and row["items_unit"] == "records"
    assert abs(row["items_per_second"] - 64 / row["time_median"]) <= 1e-9 * row["items_per_second"]
    assert abs(row["gbps"] * 1e9 / row["items_per_second"] - (1024 + 16)) < 1e-6 * 1040  # bytes per record
    text = mechbench("run", "data.features.hash", "--n", "100", "--features", "3", "--reps", "2", "--min-time", "0.001")
    assert text.returncode == 0, text.stderr
    assert re.search(r"^  items     \S+ values/s  \(model: 300 values per run\)$", text.stdout, re.M), text.stdout


def test_sweep_rows_and_export_carry_records_per_second(tmp_path):
    """A sweep's /points rows hold items, items_per_second and items_unit; `export --format json` gives Google
    Benchmark's items_per_second per repetition (items / its seconds) and for the mean and median."""
    ini = tmp_path / "t.ini"
    out = tmp_path / "t.h5"
    ini.write_text("[experiment]\nname = t\nrepetitions = 2\nmin_time = 0.001\n\n[axes]\nfeatures = 8\nthreads = 1\n\n"
                   "[sweep s]\nkernels = data.tfrecord.read_verify, data.features.bucketize\nn = 32\n"
                   "record_bytes = 1024\nrank = 4\n")
    mechbench("sweep", ini, "--out", out)
    import h5py
    with h5py.File(out, "r") as f:
        assert f.attrs["schema_version"] == 3
        rows = {r["kernel"].decode(): r for r in f["points"][:]}
    rv = rows["data.tfrecord.read_verify"]
    assert rv["items"] == 32 and rv["items_unit"] == b"records"
    assert abs(rv["items_per_second"] - 32 / rv["time_median"]) <= 1e-9 * rv["items_per_second"]
    bz = rows["data.features.bucketize.search"]
    assert bz["items"] == 32 * 8 and bz["items_unit"] == b"values"
    proc = mechbench("export", out, "--format", "json")
    benches = [b for b in json.loads(proc.stdout)["benchmarks"] if b["name"].startswith("data.tfrecord.read_verify")]
    assert len(benches) == 2 + 3
    for b in benches:
        if b.get("aggregate_name") == "stddev":
            assert "items_per_second" not in b
        else:
            assert abs(b["items_per_second"] - 32 / (b["real_time"] * 1e-9)) <= 1e-6 * b["items_per_second"]
