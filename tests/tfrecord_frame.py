"""TFRecord framing for the tests, written from the format (TensorFlow core/lib/io/record_writer.cc), independent of
mechbench's C code: uint64 length, masked CRC32C of the length, data, masked CRC32C of the data (little-endian)."""
import struct


def crc32c(data):
    """CRC32C (Castagnoli, reflected 0x82F63B78), bit by bit."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def masked(c):
    """TFRecord's mask of a CRC: rotate right by 15, add 0xa282ead8."""
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data):
    """One framed record."""
    head = struct.pack("<Q", len(data))
    return head + struct.pack("<I", masked(crc32c(head))) + data + struct.pack("<I", masked(crc32c(data)))
