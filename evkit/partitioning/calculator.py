"""The partition calculator: where each Kafka client would put a key, for debugging a misplaced record."""
from __future__ import annotations

import json
import struct
from collections.abc import Sequence

from ..errors import UsageError
from .hashes import PARTITIONERS, partition_all

KEY_FORMATS = ("utf8", "hex", "int32", "int64")

_INT_PACKING = {"int32": (">i", 32), "int64": (">q", 64)}


def encode_key(key: str | int | bytes | None, key_format: str) -> bytes | None:
    """The bytes a producer serialises `key` to: UTF-8 text, hex, or a big-endian int32/int64
    (Java's IntegerSerializer/LongSerializer). None stays a null key."""
    if key is None or isinstance(key, bytes):
        return key
    if key_format == "utf8":
        return str(key).encode()
    if key_format == "hex":
        try:
            return bytes.fromhex(str(key))
        except ValueError:
            raise UsageError(f"key {key!r} is not hex (two hex digits per byte, e.g. 0000002a)") from None
    packing, bits = _INT_PACKING[key_format]
    try:
        number = int(key)
    except ValueError:
        raise UsageError(f"key {key!r} is not an integer, as --key-format {key_format} needs") from None
    if not -(1 << (bits - 1)) <= number < 1 << (bits - 1):
        raise UsageError(f"key {key!r} does not fit in a signed {bits}-bit integer")
    return struct.pack(packing, number)


def partition(keys: Sequence[str | int | bytes | None], *, partitions: int, key_format: str = "utf8") -> list[dict]:
    """For each key, the partition every known client's partitioner sends it to in a topic of
    `partitions` partitions; None where that client picks a partition at random (null key, or an
    empty key under librdkafka's default consistent_random)."""
    if key_format not in KEY_FORMATS:
        raise UsageError(f"unknown key format {key_format!r}; choose from {', '.join(KEY_FORMATS)}")
    if not keys:
        raise UsageError("give at least one key")
    encoded = [encode_key(key, key_format) for key in keys]
    placed = partition_all(encoded, partitions)
    return [
        {"key": key if key is None or not isinstance(key, bytes) else key.hex(), "partitions": partitions}
        | {name: (None if placed[name][row] < 0 else int(placed[name][row])) for name in PARTITIONERS}
        for row, key in enumerate(keys)
    ]


def format_partitions(rows: list[dict], output_format: str) -> str:
    """`rows` from `partition()` as JSON Lines (one object per key) or an aligned text table."""
    if output_format == "json":
        return "\n".join(json.dumps(row) for row in rows)
    header = ["key", *PARTITIONERS]
    lines = [header] + [[str(row["key"]) or '""', *("random" if row[name] is None else str(row[name]) for name in PARTITIONERS)]
                        for row in rows]
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in lines)
