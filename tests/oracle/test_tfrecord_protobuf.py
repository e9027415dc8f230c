"""TFRecord / tf.Example interop with independent readers and writers (issue 12, "How it is checked"):
records written by `mechbench tfrecord from-csv` decoded by `protoc --decode` and by python3-protobuf (Debian) with
the same kernels/data/proto/*.proto (the Python module generated in the test's tmp dir by `protoc --python_out`), and
records written by python3-protobuf, packed and unpacked (a copy of the .proto with [packed = false]), read here.
The framing on the Python side uses its own bit-by-bit CRC32C."""
import importlib
import json
import shutil
import struct
import subprocess
import sys

import pytest

from tfrecord_frame import crc32c, frame, masked
from conftest import ROOT, mechbench

PROTO = ROOT / "kernels" / "data" / "proto"
pytest.importorskip("google.protobuf")
if not shutil.which("protoc"):
    pytest.skip("protoc not installed (protobuf-compiler)", allow_module_level=True)




def unframe(blob):
    out, at = [], 0
    while at < len(blob):
        (n,) = struct.unpack_from("<Q", blob, at)
        assert struct.unpack_from("<I", blob, at + 8)[0] == masked(crc32c(blob[at:at + 8]))
        data = blob[at + 12:at + 12 + n]
        assert struct.unpack_from("<I", blob, at + 12 + n)[0] == masked(crc32c(data))
        out.append(data)
        at += 16 + n
    return out


def python_module(tmp_path, packed=True):
    """example_pb2 generated from our .proto files. packed = False: a copy with the scalars unpacked, renamed
    (files *_u.proto, package tensorflow_u: one process holds both in protobuf's descriptor pool); the field
    numbers, and so the wire format, are the same."""
    suffix = "" if packed else "_u"
    src, out = tmp_path / f"proto{suffix}", tmp_path / f"py{suffix}"
    if not out.exists():
        src.mkdir()
        out.mkdir()
        for name in ("feature", "example"):
            text = (PROTO / f"{name}.proto").read_text()
            if not packed:
                text = text.replace("[packed = true]", "[packed = false]").replace("package tensorflow;",
                                                                                   "package tensorflow_u;")
                text = text.replace('import "feature.proto";', 'import "feature_u.proto";')
            (src / f"{name}{suffix}.proto").write_text(text)
        subprocess.run(["protoc", f"-I{src}", f"--python_out={out}", f"feature{suffix}.proto",
                        f"example{suffix}.proto"], check=True)
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module(f"example{suffix}_pb2")
    finally:
        sys.path.remove(str(out))


CSV = "id,score,name\n1,0.5,Ann\n-9223372036854775808,-1e-3,\n42,3,x y\n"


def written_here(tmp_path):
    src = tmp_path / "a.csv"
    src.write_text(CSV)
    out = tmp_path / "a.tfrecord"
    mechbench("tfrecord", "from-csv", src, "--out", out)
    return unframe(out.read_bytes())


def test_records_written_here_decode_with_protoc(tmp_path):
    recs = written_here(tmp_path)
    assert len(recs) == 3
    text = subprocess.run(["protoc", "--decode=tensorflow.Example", f"-I{PROTO}", "example.proto"], input=recs[1],
                          capture_output=True, check=True).stdout.decode()
    assert 'key: "id"' in text and "value: -9223372036854775808" in text
    assert "value: -0.001" in text
    # keys sorted: id < name < score
    assert text.index('key: "id"') < text.index('key: "name"') < text.index('key: "score"')


def test_records_written_here_decode_with_python_protobuf(tmp_path):
    pb = python_module(tmp_path)
    recs = written_here(tmp_path)
    ex = [pb.Example.FromString(r) for r in recs]
    f0 = ex[0].features.feature
    assert list(f0["id"].int64_list.value) == [1]
    assert list(f0["score"].float_list.value) == [0.5]
    assert list(f0["name"].bytes_list.value) == [b"Ann"]
    assert list(ex[1].features.feature["id"].int64_list.value) == [-(2 ** 63)]
    assert list(ex[1].features.feature["name"].bytes_list.value) == []  # empty cell: no value
    assert list(ex[2].features.feature["name"].bytes_list.value) == [b"x y"]
    # byte-stable: python's deterministic serialization (sorted map keys) gives the same bytes
    for e, r in zip(ex, recs):
        assert e.SerializeToString(deterministic=True) == r


@pytest.mark.parametrize("packed", [True, False])
def test_records_written_by_python_read_here(tmp_path, packed):
    pb = python_module(tmp_path, packed)
    examples = []
    for i in range(5):
        e = pb.Example()
        e.features.feature["ints"].int64_list.value.extend([i, -i - 1, 2 ** 40 + i, -(2 ** 63)])
        e.features.feature["floats"].float_list.value.extend([i + 0.25, -1.5])
        e.features.feature["text"].bytes_list.value.extend([b"r%d" % i, b""])
        e.features.feature["empty"].int64_list.SetInParent()
        examples.append(e.SerializeToString())
    f = tmp_path / "py.tfrecord"
    f.write_bytes(b"".join(frame(x) for x in examples))
    lines = mechbench("tfrecord", "cat", f).stdout.splitlines()
    assert len(lines) == 5
    for i, line in enumerate(lines):
        got = json.loads(line)
        assert got["ints"] == {"int64": [i, -i - 1, 2 ** 40 + i, -(2 ** 63)]}
        assert got["floats"] == {"float": [i + 0.25, -1.5]}
        assert got["text"] == {"bytes": ["r%d" % i, ""]}
        assert got["empty"] == {"int64": []}
    assert "records" in mechbench("tfrecord", "verify", f).stdout


def test_packed_and_unpacked_encodings_differ_but_read_the_same(tmp_path):
    a, b = python_module(tmp_path, True), python_module(tmp_path, False)
    ea, eb = a.Example(), b.Example()
    for e in (ea, eb):
        e.features.feature["v"].int64_list.value.extend([1, 2, 3])
    sa, sb = ea.SerializeToString(), eb.SerializeToString()
    assert sa != sb  # the test is about both encodings
    fa, fb = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
    fa.write_bytes(frame(sa))
    fb.write_bytes(frame(sb))
    assert mechbench("tfrecord", "cat", fa).stdout == mechbench("tfrecord", "cat", fb).stdout == \
        '{"v": {"int64": [1, 2, 3]}}\n'
