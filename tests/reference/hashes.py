"""The six partitioners of docs/partitioners.md, one key at a time, in plain Python (no evkit).

Each raw hash is written from its client's definition (docs/partitioners.md, "The partitioners";
kafka-facts.md section 1): Java's `Utils.murmur2`, kafkajs 1.x's `legacy/murmur2.js` with its
JavaScript float arithmetic, CRC-32/IEEE and FNV-1a 32. `placement_hash(name, key)` is the
non-negative h whose `h % n` is the key's partition for every partition count n (what the checks
compare); `partition(name, key, n)` is that partition, or -1 where the client picks one at random.
"""
from __future__ import annotations

import zlib

MASK32 = 0xFFFFFFFF
SEED = 0x9747B28C
M = 0x5BD1E995
FNV_OFFSET = 0x811C9DC5
FNV_PRIME = 0x01000193

PARTITIONERS = ("java_murmur2", "librdkafka_consistent", "librdkafka_fnv1a", "sarama_hash", "sarama_reference",
                "kafkajs_legacy")


def int32(x: int) -> int:
    """The low 32 bits of x as a signed 32-bit integer."""
    x &= MASK32
    return x - (1 << 32) if x >= 1 << 31 else x


def murmur2(key: bytes) -> int:
    """Java kafka-clients `Utils.murmur2`: signed 32-bit result, all arithmetic mod 2^32."""
    length = len(key)
    h = (SEED ^ length) & MASK32
    for i in range(length // 4):
        k = int.from_bytes(key[4 * i:4 * i + 4], "little")
        k = (k * M) & MASK32
        k ^= k >> 24
        k = (k * M) & MASK32
        h = (h * M) & MASK32
        h ^= k
    rest = length % 4
    tail = length - rest
    if rest == 3:
        h ^= key[tail + 2] << 16
    if rest >= 2:
        h ^= key[tail + 1] << 8
    if rest >= 1:
        h ^= key[tail]
        h = (h * M) & MASK32
    h ^= h >> 13
    h = (h * M) & MASK32
    h ^= h >> 15
    return int32(h)


def _js_to_int32(x: float | int) -> int:
    """ECMAScript ToInt32 of an integral number: the exact integer it represents, mod 2^32, signed."""
    return int32(int(x))


def _js_to_uint32(x: float | int) -> int:
    return int(x) & MASK32


def kafkajs_legacy_murmur2(key: bytes) -> int:
    """kafkajs 1.x `src/producer/partitioners/legacy/murmur2.js`, statement by statement.

    JavaScript numbers are float64: `h *= M` is a float product (rounded to 53 bits), cut to 32 bits
    only by the next `^`; `for (i = 0; i < length / 4; i++)` compares with a float, so a length that
    is not a multiple of 4 gets one more pass reading past the end (`undefined & 0xff` is 0).
    """
    length = len(key)

    def byte(i: int) -> int:
        return key[i] if i < length else 0  # Buffer[i] past the end is undefined; undefined & 0xff = 0

    h: float | int = _js_to_int32(SEED) ^ length  # `SEED ^ length`: ToInt32 of both sides
    i = 0
    while i < length / 4:
        i4 = i * 4
        # `(b0 & 0xff) + ((b1 & 0xff) << 8) + ((b2 & 0xff) << 16) + ((b3 & 0xff) << 24)`: `<<` gives int32
        k: float | int = byte(i4) + (byte(i4 + 1) << 8) + (byte(i4 + 2) << 16) + int32(byte(i4 + 3) << 24)
        k = float(k) * float(M)                              # k *= M
        k = _js_to_int32(k) ^ int32(_js_to_uint32(k) >> 24)  # k ^= k >>> R
        k = float(k) * float(M)                              # k *= M
        h = float(h) * float(M)                              # h *= M
        h = _js_to_int32(h) ^ _js_to_int32(k)                # h ^= k
        i += 1
    rest = length % 4
    tail = length & ~3
    if rest == 3:
        h = _js_to_int32(h) ^ int32((key[tail + 2] & 0xFF) << 16)
    if rest >= 2:
        h = _js_to_int32(h) ^ int32((key[tail + 1] & 0xFF) << 8)
    if rest >= 1:
        h = _js_to_int32(h) ^ (key[tail] & 0xFF)
        h = float(h) * float(M)
    h = _js_to_int32(h) ^ int32(_js_to_uint32(h) >> 13)      # h ^= h >>> 13
    h = float(h) * float(M)                                   # h *= M
    h = _js_to_int32(h) ^ int32(_js_to_uint32(h) >> 15)      # h ^= h >>> 15
    return h


def crc32(key: bytes) -> int:
    """CRC-32/IEEE, unsigned."""
    return zlib.crc32(key) & MASK32


def fnv1a32(key: bytes) -> int:
    """FNV-1a 32, unsigned."""
    h = FNV_OFFSET
    for b in key:
        h ^= b
        h = (h * FNV_PRIME) & MASK32
    return h


def placement_hash(name: str, key: bytes | None) -> int | None:
    """The non-negative h with partition h % n for every n; None where the client places the key at random."""
    if key is None:
        return None
    if name == "java_murmur2":
        return murmur2(key) & 0x7FFFFFFF
    if name == "kafkajs_legacy":
        return kafkajs_legacy_murmur2(key) & 0x7FFFFFFF
    if name == "librdkafka_consistent":
        return crc32(key) if key else None  # consistent_random: the empty key goes to a random partition
    if name == "librdkafka_fnv1a":
        # (uint32)abs((int32)h): abs(INT32_MIN) stays INT32_MIN, read back as uint32 2^31
        return abs(int32(fnv1a32(key)))
    if name == "sarama_hash":
        # p = int32(h) % n (Go truncates toward zero); if p < 0 { p = -p }: |int32(h)| % n for every n
        return abs(int32(fnv1a32(key)))
    if name == "sarama_reference":
        return fnv1a32(key) & 0x7FFFFFFF
    raise ValueError(f"unknown partitioner {name!r}")


def sarama_hash_partition(key: bytes, n: int) -> int:
    """Sarama's NewHashPartitioner as Go computes it, for testing placement_hash's shortcut."""
    h = int32(fnv1a32(key))
    p = abs(h) % n * (1 if h >= 0 else -1)  # Go's % truncates toward zero: the sign of the dividend
    p = int32(p)
    return -p if p < 0 else p


def partition(name: str, key: bytes | None, n: int) -> int:
    """The key's partition among n, or -1 where the client picks a partition at random."""
    h = placement_hash(name, key)
    return -1 if h is None else h % n
