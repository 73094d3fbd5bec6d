"""The Schema Registry wire format over whole Arrow columns: magic byte 0, the 4-byte big-endian
schema id, then the payload (for Protobuf, message indexes first). What a format's reader returns."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

MAGIC = 0
PREFIX = 5  # magic byte + schema id

# Why a value did not decode: the `reason` of decode_failures (docs/analysis.md, "Formats").
WRONG_MAGIC_BYTE = "wrong_magic_byte"      # not framed: shorter than 5 bytes or not starting with byte 0
UNKNOWN_SCHEMA_ID = "unknown_schema_id"    # framed by an id the dataset stores no schema for
WRONG_SCHEMA_TYPE = "wrong_schema_type"    # framed by a schema of another type than the topic's format
CORRUPT_PAYLOAD = "corrupt_payload"        # the payload does not decode in its schema


@dataclass
class Decoded:
    """A reader's result for n framed values: per variant (a Protobuf message type; "" otherwise) the
    row indices it decoded and their values, and the rows that did not decode (`failed`)."""

    variants: list[tuple[str, np.ndarray, pa.Array]] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def frames(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(framed, schema_id) per value: framed is True where the value is not null, has at least 5
    bytes and starts with the magic byte; schema_id is its id there (else -1)."""
    values = values.cast(pa.binary()) if values.type != pa.binary() else values
    n = len(values)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64)
    offsets = np.frombuffer(values.buffers()[1], np.int32, n + 1 + values.offset)[values.offset:]
    data = np.frombuffer(values.buffers()[2], np.uint8) if values.buffers()[2] is not None else np.zeros(0, np.uint8)
    valid = (np.diff(offsets) >= PREFIX) & ~np.asarray(values.is_null())
    starts = offsets[:-1][valid]
    head = data[starts[:, None] + np.arange(PREFIX)].astype(np.int64) if len(starts) else np.zeros((0, PREFIX), np.int64)
    framed = np.zeros(n, bool)
    framed[valid] = head[:, 0] == MAGIC
    ids = np.full(n, -1, np.int64)
    ids[valid] = (head[:, 1] << 24) | (head[:, 2] << 16) | (head[:, 3] << 8) | head[:, 4]
    ids[~framed] = -1
    return framed, ids


def concatenated(values: pa.Array) -> pa.Buffer:
    """The bytes of all values one after another: a zero-copy slice of a binary array's data buffer."""
    values = values.cast(pa.binary()) if values.type != pa.binary() else values
    offsets = np.frombuffer(values.buffers()[1], np.int32, len(values) + 1 + values.offset)[values.offset:]
    if len(values) == 0 or values.buffers()[2] is None:
        return pa.py_buffer(b"")
    return values.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def zigzag(number: int) -> bytes:
    """An Avro/Protobuf zigzag varint."""
    number = (number << 1) ^ (number >> 63)
    out = bytearray()
    while number & ~0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def read_zigzag(data: bytes, pos: int) -> tuple[int, int]:
    """(number, next position) of the zigzag varint at `pos`; IndexError past the end."""
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


def plain_type(kind: pa.DataType) -> pa.DataType:
    """`kind` with dictionary (categorical) types replaced by their values' type, recursively, so that
    batches decoded separately share one type."""
    if pa.types.is_dictionary(kind):
        return plain_type(kind.value_type)
    if pa.types.is_struct(kind):
        return pa.struct([kind.field(i).with_type(plain_type(kind.field(i).type)) for i in range(kind.num_fields)])
    if pa.types.is_map(kind):
        return pa.map_(plain_type(kind.key_type), plain_type(kind.item_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(kind.value_field.with_type(plain_type(kind.value_type)))
    if pa.types.is_list(kind):
        return pa.list_(kind.value_field.with_type(plain_type(kind.value_type)))
    return kind
