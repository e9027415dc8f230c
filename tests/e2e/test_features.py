"""End-to-end tests of `mechbench features apply SPEC DATA.tfrecord --out dense.h5`: TFRecords of tf.Examples written
here by an independent pure-Python encoder (protobuf wire format of TensorFlow's example.proto / feature.proto and
the TFRecord framing with a table-driven CRC32C), the dense layer read back with h5py and compared with values
derived by hand (the derivations are in tests/unit/test_data_features.c: Fingerprint64 test vectors of
MECHANISMS.md G, FingerprintCat64 by Python integers). Bad records give one line naming the record, a non-zero exit
and no output file."""
import struct

import h5py
import numpy as np
import pytest

from conftest import mechbench

# ---------------------------------------------------------------------------------------------- encoders
_CRC_TABLE = []
for _n in range(256):
    _c = _n
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    v &= (1 << 64) - 1  # negative int64: 10-byte two's complement
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field(num, payload):  # length-delimited field
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def feature(values):
    if all(isinstance(v, (bytes, str)) for v in values) and values:
        body = b"".join(field(1, v.encode() if isinstance(v, str) else v) for v in values)
        return field(1, body)  # bytes_list
    if any(isinstance(v, float) for v in values):
        return field(2, field(1, struct.pack(f"<{len(values)}f", *values)))  # float_list, packed
    return field(3, field(1, b"".join(varint(v) for v in values)))  # int64_list, packed


def example(features):
    entries = b"".join(field(1, field(1, k.encode()) + field(2, feature(v))) for k, v in sorted(features.items()))
    return field(1, entries)


def tfrecord(records):
    out = bytearray()
    for data in records:
        length = struct.pack("<Q", len(data))
        out += length + struct.pack("<I", masked(length)) + data + struct.pack("<I", masked(data))
    return bytes(out)


def test_crc32c_check_value():
    assert crc32c(b"123456789") == 0xE3069283


# ---------------------------------------------------------------------------------------------- spec and data
SPEC = """\
[age]
type = numeric
default = 30
mean = 40
std = 10
[age_b]
type = bucketized
source = age
boundaries = -1, 0, 1
[height]
type = numeric
[id]
type = identity
num_buckets = 5
[city]
type = vocabulary_list
vocabulary = a, b
num_oov = 3
[x]
type = crossed
keys = town, id
buckets = 1000
[w]
type = weighted
categorical = id
weight = id_w
[city_ind]
type = indicator
categorical = city
[id_ind]
type = indicator
categorical = id
[w_ind]
type = indicator
categorical = w
[x_ind]
type = indicator
categorical = x
"""
# dense layout, sorted by name: age 0, age_b 1..5, city_ind 5..10, height 10, id_ind 11..16, w_ind 16..21,
# x_ind 21..1021
WIDTH = 1021
REC0 = {"age": [50.0], "height": [1.5], "id": [3, 3, 1], "city": ["a", "c"], "town": ["a"], "id_w": [0.5, 0.5, 2.0]}
REC1 = {"height": [1.5]}


def want_rec0():
    w = np.zeros(WIDTH)
    w[0] = 1.0                    # (50 - 40) / 10
    w[1 + 3] = 1                  # bucket of 1 with boundaries -1, 0, 1: 3 (a tie goes up)
    w[5 + 0] = 1                  # city a -> 0
    w[5 + 3] = 1                  # city c -> 2 + Fp64("c") % 3 = 3
    w[10] = 1.5
    w[11 + 3], w[11 + 1] = 2, 1   # id counts
    w[16 + 3], w[16 + 1] = 1.0, 2.0  # summed weights
    w[21 + 486] = 2               # cat(cat(0xDECAFCAFFE, Fp64("a")), 3) % 1000 = 486, twice
    w[21 + 485] = 1               # ... id 1 -> 485
    return w


def want_rec1():
    w = np.zeros(WIDTH)
    w[0] = -1.0       # the default 30
    w[1 + 1] = 1      # -1 -> bucket 1 (tie up)
    w[10] = 1.5
    return w          # empty categorical rows: zeros


@pytest.fixture
def files(tmp_path):
    spec = tmp_path / "spec.ini"
    spec.write_text(SPEC)

    def data(records, name="data.tfrecord"):
        path = tmp_path / name
        path.write_bytes(tfrecord([example(r) if isinstance(r, dict) else r for r in records]))  # bytes: as is
        return path
    return spec, data, tmp_path


def test_dense_layer_by_hand(files):
    spec, data, tmp = files
    out = tmp / "dense.h5"
    proc = mechbench("features", "apply", spec, data([REC0, REC1, REC0]), "--out", out)
    assert "wrote" in proc.stdout and proc.stderr == ""
    with h5py.File(out, "r") as f:
        dense = f["dense"][...]
    assert dense.dtype == np.float32 and dense.shape == (3, WIDTH)
    np.testing.assert_array_equal(dense[0], want_rec0().astype(np.float32))
    np.testing.assert_array_equal(dense[1], want_rec1().astype(np.float32))
    np.testing.assert_array_equal(dense[2], dense[0])
    assert "x_ind" in proc.stdout and "[21, 1021)" in proc.stdout


def test_one_record(files):
    spec, data, tmp = files
    out = tmp / "one.h5"
    mechbench("features", "apply", spec, data([REC1]), "--out", out)
    with h5py.File(out, "r") as f:
        np.testing.assert_array_equal(f["dense"][...], want_rec1().astype(np.float32)[None, :])


def test_tamper_is_seen(files):
    """The comparison can fail: another city value moves the one-hot."""
    spec, data, tmp = files
    out = tmp / "t.h5"
    mechbench("features", "apply", spec, data([dict(REC0, city=["b", "c"])]), "--out", out)
    with h5py.File(out, "r") as f:
        assert not np.array_equal(f["dense"][0], want_rec0().astype(np.float32))
        assert f["dense"][0][5 + 1] == 1


@pytest.mark.parametrize("bad, words", [
    (dict(REC0, id=[3, 7, 1]), ["id 7", "out of range [0, 5)"]),
    ({k: v for k, v in REC0.items() if k != "height"}, ["'height' is missing", "no default"]),
    (dict(REC0, age=[50]), ["feature 'age' is int64, expected float"]),
    (dict(REC0, id_w=[1.0]), ["1 weights in 'id_w' for 3 ids"]),
    (b"\x0a\x40\x01", ["garbage protobuf"]),
])
def test_bad_record(files, bad, words):
    spec, data, tmp = files
    out = tmp / "bad.h5"
    path = data([REC0, REC1, bad, REC0])
    proc = mechbench("features", "apply", spec, path, "--out", out, check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    offset = 2 * 16 + len(example(REC0)) + len(example(REC1))  # records 0 and 1 (framing: 16 bytes) come first
    assert f"record 2 at byte {offset}: " in lines[0], lines[0]
    for w in words:
        assert w in lines[0], lines[0]
    assert not out.exists()
    assert not list(tmp.glob("*.tmp*")) and not list(tmp.glob(".bad*")), "no half-written output"


def test_corrupt_crc_names_record(files):
    spec, data, tmp = files
    path = data([REC0, REC1])
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF  # the data CRC of record 1
    path.write_bytes(bytes(raw))
    out = tmp / "c.h5"
    proc = mechbench("features", "apply", spec, path, "--out", out, check=False)
    assert proc.returncode != 0
    assert len(proc.stderr.strip().splitlines()) == 1 and "record 1" in proc.stderr, proc.stderr
    assert not out.exists()
    # --skip-corrupt: record 1 is skipped and counted, record 0 is written
    proc = mechbench("features", "apply", spec, path, "--out", out, "--skip-corrupt")
    assert "1 records with a bad data CRC skipped" in proc.stdout, proc.stdout
    with h5py.File(out, "r") as f:
        assert f["dense"].shape[0] == 1


def test_spec_error_names_file_and_line(files):
    spec, data, tmp = files
    spec.write_text(SPEC.replace("boundaries = -1, 0, 1", "boundaries = -1, 1, 0"))
    proc = mechbench("features", "apply", spec, data([REC0]), "--out", tmp / "s.h5", check=False)
    assert proc.returncode == 2
    assert f"{spec}:9: boundaries" in proc.stderr, proc.stderr
    assert not (tmp / "s.h5").exists()


def test_usage_errors(files):
    spec, data, tmp = files
    proc = mechbench("features", "apply", spec, data([REC0]), check=False)
    assert proc.returncode == 2 and "--out" in proc.stderr
    proc = mechbench("features", "apply", spec, data([REC0]), "--out", tmp / "x.csv", check=False)
    assert proc.returncode == 2 and ".h5" in proc.stderr
    assert "features apply SPEC" in mechbench("features", "--help").stdout
