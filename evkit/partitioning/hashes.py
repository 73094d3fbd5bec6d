"""Kafka clients' key partitioners, recomputed over whole key columns.

Every function here works on a column of keys at once, never a Python call per key. A C kernel
(evkit/_hashes.c, built by `pip install` where a C compiler is at hand) reads the Arrow offsets and
data buffers and places each key under every requested partitioner in one pass. Without it, NumPy
computes the same over the same buffers (KeyColumn: rows ordered by key length, each step of a hash
over all keys still that long), a few NumPy passes per 4 key bytes and several times slower.

Sources, and what each partitioner does with a null or empty key (`-1` = the client picks a
partition at random, round-robin or sticky, so the key says nothing about where the record went):

=========================  ==========================================================  =====  =====
name                       formula and source                                          null   empty
=========================  ==========================================================  =====  =====
java_murmur2               ``(murmur2(key) & 0x7fffffff) % n``; kafka-clients            -1    hash
                           ``BuiltInPartitioner.partitionForKey``/``Utils.murmur2``;
                           also kafkajs >= 2 default, librdkafka ``murmur2(_random)``,
                           franz-go, kafka-python
librdkafka_consistent      ``crc32(key) % n`` (CRC-32/IEEE, unsigned); librdkafka        -1     -1
                           ``consistent_random`` (its default) in ``rdkafka_msg.c``;
                           Sarama ``NewConsistentCRCHashPartitioner``
librdkafka_fnv1a           ``abs(int32(fnv1a32(key))) % n`` as uint32; librdkafka        -1    hash
                           ``rdfnv1a.c`` (``fnv1a_random``)
sarama_hash                ``p = int32(fnv1a32(key)) % n; if p < 0: p = -p``; Sarama     -1    hash
                           ``NewHashPartitioner`` (its default)
sarama_reference           ``(int32(fnv1a32(key)) & 0x7fffffff) % n``; Sarama            -1    hash
                           ``NewReferenceHashPartitioner``
kafkajs_legacy             Java's formula over kafkajs 1.x's murmur2                      -1    hash
                           (``partitioners/legacy/murmur2.js``): JavaScript float
                           arithmetic, ``length / 4`` not floored (so a partial last
                           block is hashed twice, zero-padded) and ``*=`` is a float64
                           multiply that loses low bits instead of wrapping mod 2**32
=========================  ==========================================================  =====  =====

librdkafka's non-random variants differ only for null/empty keys: ``consistent`` sends both to
partition 0, ``murmur2`` and ``fnv1a`` hash a null key as if it were empty. ``librdkafka_fnv1a``
and ``sarama_hash`` agree on every non-null key, including an FNV-1a value of INT32_MIN (both give
``2**31 % n``): the checks report a producer on either as the pair (CANDIDATES below).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
from tqdm.auto import tqdm

from ..errors import UsageError

try:
    from . import _hashes as _native
except ImportError:  # built where no C compiler was at hand (setup.py): NumPy computes the same partitions
    _native = None

PARTITIONERS = (
    "java_murmur2",
    "librdkafka_consistent",
    "librdkafka_fnv1a",
    "sarama_hash",
    "sarama_reference",
    "kafkajs_legacy",
)
# Partitioners that place every non-null key alike are one candidate: the data cannot tell them apart.
CANDIDATES = {name: name for name in PARTITIONERS if name != "librdkafka_fnv1a"}
CANDIDATES["sarama_hash"] = "sarama_hash/librdkafka_fnv1a"

_M = np.uint32(0x5BD1E995)
_MURMUR_SEED = 0x9747B28C
_FNV_OFFSET = np.uint32(0x811C9DC5)
_FNV_PRIME = np.uint32(0x01000193)
CHUNK_ROWS = 1 << 18  # keys hashed together: their working arrays fit in the CPU cache
_BLOCK_MASKS = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF], dtype=np.uint32)


def _crc32_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables of the reflected CRC-32/IEEE polynomial 0xEDB88320: the byte table, and two 16-bit
    tables that together advance the CRC over 4 bytes in two look-ups (slicing by 4, paired)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    sliced = [table]
    for _ in range(3):
        sliced.append((sliced[-1] >> 8) ^ table[sliced[-1] & 0xFF])
    t0, t1, t2, t3 = sliced
    pairs = np.arange(1 << 16, dtype=np.uint32)
    return table, t3[pairs & 0xFF] ^ t2[pairs >> 8], t1[pairs & 0xFF] ^ t0[pairs >> 8]


_CRC_TABLES = _crc32_tables()


class KeyColumn:
    """Keys laid out for column-wise hashing: one padded byte buffer read as (unaligned) little-endian
    uint32 words, rows sorted by length (longest first).

    `rows_longer_than(n)` counts the keys longer than n bytes; since rows are sorted longest first,
    those keys are a prefix, so each step of a hash updates `h[:rows]` in place. When every key has
    the same length (fixed-width ids, UUIDs) nothing is sorted or gathered: block b of all keys is
    one strided view of the buffer.
    """

    def __init__(self, keys: pa.Array | pa.ChunkedArray | Sequence[bytes | None] | np.ndarray):
        array = _as_binary_array(keys)
        self.size = len(array)
        self.null = array.is_null().to_numpy(zero_copy_only=False)
        offsets, data_buffer = _key_buffers(array)
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        if self.size:
            data = data[int(offsets[0]): int(offsets[-1])]
            offsets = offsets - offsets[0]
        # Four zero bytes past the end so a 4-byte read at any key's last block stays in bounds.
        padded = np.concatenate([data if self.size else data[:0], np.zeros(4, np.uint8)])
        self.words = np.ndarray((len(padded) - 3,), dtype="<u4", buffer=padded, strides=(1,))
        lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
        lengths[self.null] = 0
        self.empty = (lengths == 0) & ~self.null
        self.max_length = int(lengths.max()) if self.size else 0
        self.uniform_length = self.max_length if self.size and int(lengths.min()) == self.max_length else None
        self._blocks: dict[int, np.ndarray] = {}
        if self.uniform_length is not None:
            self.order = None
            self.lengths = lengths
            return
        sort_key = lengths.astype(np.uint16) if self.max_length < 1 << 16 else lengths
        self.order = np.argsort(~sort_key if sort_key.dtype == np.uint16 else -sort_key, kind="stable")
        self.starts = offsets[:-1].astype(np.int64)[self.order]
        self.lengths = lengths[self.order]
        self._negated_lengths = -self.lengths

    def rows_longer_than(self, length: int) -> int:
        if self.uniform_length is not None:
            return self.size if self.uniform_length > length else 0
        return int(np.searchsorted(self._negated_lengths, -length, side="left"))

    def block(self, block: int) -> np.ndarray:
        """Bytes 4*block to 4*block+3 of every key that has them, as little-endian uint32, read once
        per column and shared by the hashes (callers must not modify it)."""
        if block not in self._blocks:
            self._blocks[block] = self.word(self.rows_longer_than(4 * block + 3), 4 * block)
        return self._blocks[block]

    def word(self, rows: int, byte_offset: np.ndarray | int) -> np.ndarray:
        """The little-endian uint32 at `start + byte_offset` of the first `rows` keys."""
        if self.uniform_length:
            begin = int(byte_offset)
            return self.words[begin: begin + self.uniform_length * rows: self.uniform_length].copy()
        if self.uniform_length == 0:
            return np.zeros(rows, np.uint32)
        return self.words[self.starts[:rows] + byte_offset]

    def tail(self) -> np.ndarray:
        """The 0-3 bytes after the last full 4-byte block of every key, as a little-endian uint32."""
        if self.uniform_length is not None:
            return self.word(self.size, self.uniform_length & ~3) & _BLOCK_MASKS[self.uniform_length & 3]
        return self.word(self.size, self.lengths & ~3) & _BLOCK_MASKS[self.lengths & 3]

    def tail_longer_than(self, count: int) -> np.ndarray | bool:
        """Which keys have more than `count` bytes after their last full block (one bool if all alike)."""
        if self.uniform_length is not None:
            return (self.uniform_length & 3) > count
        return (self.lengths & 3) > count

    def block_mask(self, rows: int, block: int) -> np.ndarray | np.uint32:
        """For block `block` of the first `rows` keys, the mask of its bytes that lie inside the key."""
        if self.uniform_length is not None:
            return _BLOCK_MASKS[min(self.uniform_length - 4 * block, 4)]
        return _BLOCK_MASKS[np.minimum(self.lengths[:rows] - 4 * block, 4)]

    def unsort(self, sorted_values: np.ndarray) -> np.ndarray:
        if self.order is None:
            return sorted_values
        values = np.empty_like(sorted_values)
        values[self.order] = sorted_values
        return values


def _update_where(selected: np.ndarray | bool, update, values: np.ndarray) -> np.ndarray:
    """`update(values)` on the selected rows (a mask, or one bool for all), `values` elsewhere."""
    if selected is True or selected is False:
        return update(values) if selected else values
    return np.where(selected, update(values), values)


def _key_buffers(array: pa.Array) -> tuple[np.ndarray, pa.Buffer | bytes]:
    """A binary array's offsets (int32 or int64, `len(array) + 1` of them, into the data) and data buffer."""
    offsets_type = np.int64 if pa.types.is_large_binary(array.type) else np.int32
    buffers = array.buffers()
    if buffers[1] is None:  # a zero-length array may come without an offsets buffer
        return np.zeros(1, offsets_type), b""
    offsets = np.frombuffer(buffers[1], dtype=offsets_type)[array.offset: array.offset + len(array) + 1]
    return offsets, buffers[2] if buffers[2] is not None else b""


def _as_binary_array(keys) -> pa.Array:
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks() if keys.num_chunks != 1 else keys.chunk(0)
    if not isinstance(keys, pa.Array):
        keys = pa.array(list(keys) if isinstance(keys, np.ndarray) else keys, type=pa.binary())
    if pa.types.is_string(keys.type) or pa.types.is_large_string(keys.type):
        keys = keys.cast(pa.large_binary() if pa.types.is_large_string(keys.type) else pa.binary())
    if not (pa.types.is_binary(keys.type) or pa.types.is_large_binary(keys.type)):
        raise UsageError(f"keys must be binary or string, not {keys.type}")
    return keys


def murmur2(column: KeyColumn) -> np.ndarray:
    """Kafka's murmur2 (Java `Utils.murmur2`) of every key, as uint32 in the column's sorted order."""
    h = np.uint32(_MURMUR_SEED) ^ column.lengths.astype(np.uint32)
    for block in range(column.max_length >> 2):
        k = column.block(block) * _M
        rows = len(k)
        k ^= k >> 24
        k *= _M
        head = h[:rows]
        head *= _M
        head ^= k
    tail = column.tail()
    h ^= tail
    h = _update_where(column.tail_longer_than(0), lambda values: values * _M, h)
    h ^= h >> 13
    h *= _M
    h ^= h >> 15
    return h


def _js_times_m(bits: np.ndarray) -> np.ndarray:
    """JavaScript `x *= 0x5bd1e995` on an int32 `x`, then ToInt32: a float64 product, rounded, taken
    mod 2**32 (the low half of the exact int64 the rounded product is)."""
    product = np.multiply(bits.view(np.int32), float(_M), dtype=np.float64)
    return product.astype(np.int64).view(np.uint32)[::2]


def kafkajs_legacy_murmur2(column: KeyColumn) -> np.ndarray:
    """kafkajs 1.x `legacy/murmur2.js`, bit for bit: see the module docstring for its two bugs."""
    h = np.uint32(_MURMUR_SEED) ^ column.lengths.astype(np.uint32)
    # `i < length / 4` is a float comparison: a partial last block gets a loop pass of its own.
    for block in range((column.max_length + 3) >> 2):
        rows = column.rows_longer_than(4 * block)
        # Bytes past the end read as `undefined & 0xff`, which is 0.
        k = _js_times_m(column.word(rows, 4 * block) & column.block_mask(rows, block))
        k ^= k >> 24
        h[:rows] = _js_times_m(h[:rows]) ^ _js_times_m(k)
    tail = column.tail()
    h ^= tail
    h = _update_where(column.tail_longer_than(0), _js_times_m, h)
    h ^= h >> 13
    h = _js_times_m(h)
    h ^= h >> 15
    return np.ascontiguousarray(h)


def crc32(column: KeyColumn) -> np.ndarray:
    """CRC-32/IEEE (zlib's crc32) of every key, 4 bytes per step."""
    byte_table, low_pair, high_pair = _CRC_TABLES
    crc = np.full(column.size, 0xFFFFFFFF, dtype=np.uint32)
    for block in range(column.max_length >> 2):
        words = column.block(block)
        rows = len(words)
        c = crc[:rows] ^ words
        crc[:rows] = low_pair[c & 0xFFFF] ^ high_pair[c >> 16]
    tail = column.tail()
    for byte in range(3):
        def step(values: np.ndarray, byte: int = byte) -> np.ndarray:
            return byte_table[(values ^ (tail >> (8 * byte))) & 0xFF] ^ (values >> 8)
        crc = _update_where(column.tail_longer_than(byte), step, crc)
    return crc ^ np.uint32(0xFFFFFFFF)


def fnv1a32(column: KeyColumn) -> np.ndarray:
    """32-bit FNV-1a (offset 0x811c9dc5, prime 0x01000193) of every key."""
    h = np.full(column.size, _FNV_OFFSET, dtype=np.uint32)
    for block in range(column.max_length >> 2):
        words = column.block(block)
        rows = len(words)
        key_bytes = words.view(np.uint8).reshape(rows, 4)
        head = h[:rows]
        for byte in range(4):
            head ^= key_bytes[:, byte]
            head *= _FNV_PRIME
    tail = column.tail()
    for byte in range(3):
        def step(values: np.ndarray, byte: int = byte) -> np.ndarray:
            return (values ^ ((tail >> (8 * byte)) & 0xFF)) * _FNV_PRIME
        h = _update_where(column.tail_longer_than(byte), step, h)
    return h


def _masked(h: np.ndarray) -> np.ndarray:
    """Java's `Utils.toPositive`: clear the sign bit."""
    return (h & np.uint32(0x7FFFFFFF)).astype(np.int64)


def _abs_int32(h: np.ndarray) -> np.ndarray:
    """librdkafka's `abs(int32 h)` read back as uint32 (INT32_MIN stays 2**31); `% n` of it equals
    Sarama's `abs(int32 h % n)` for every h."""
    return np.abs(h.view(np.int32).astype(np.int64))


def _unsigned(h: np.ndarray) -> np.ndarray:
    return h.astype(np.int64)


# name -> (hash over the column, the non-negative number whose `% n` is the partition)
_HASHES = {
    "java_murmur2": (murmur2, _masked),
    "librdkafka_consistent": (crc32, _unsigned),
    "librdkafka_fnv1a": (fnv1a32, _abs_int32),
    "sarama_hash": (fnv1a32, _abs_int32),
    "sarama_reference": (fnv1a32, _masked),
    "kafkajs_legacy": (kafkajs_legacy_murmur2, _masked),
}

# Partitioners whose client sends an empty key somewhere at random rather than hashing it.
_EMPTY_IS_RANDOM = frozenset({"librdkafka_consistent"})


def check_partitioners(partitioners: Sequence[str]) -> tuple[str, ...]:
    unknown = [name for name in partitioners if name not in PARTITIONERS]
    if unknown:
        raise UsageError(f"unknown partitioner {unknown[0]!r}; choose from {', '.join(PARTITIONERS)}")
    return tuple(partitioners)


def _check_partition_count(num_partitions: int) -> None:
    if isinstance(num_partitions, bool) or not isinstance(num_partitions, (int, np.integer)) or num_partitions < 1:
        raise UsageError(f"the partition count must be a positive integer, not {num_partitions!r}")


def placement_hashes(keys, partitioners: Sequence[str] = PARTITIONERS, *, progress: bool = False) -> dict[str, np.ndarray]:
    """Per partitioner, the non-negative int64 `h` with partition = `h % n` for every partition count n;
    -1 where the client picks a partition at random. `progress` shows a progress bar (keys, rate, ETA)."""
    return _place(keys, check_partitioners(partitioners), 1 << 32, np.int64, progress)


def partition_all(keys, num_partitions: int, partitioners: Sequence[str] = PARTITIONERS) -> dict[str, np.ndarray]:
    """The partition of every key under each named partitioner; -1 where the client picks at random.

    The arrays have the smallest signed integer dtype that holds every partition (partition_dtype),
    like pandas' category codes: for 10M keys, all six partitioners take 60 MB at up to 128
    partitions, not 240 MB."""
    _check_partition_count(num_partitions)
    return _place(keys, check_partitioners(partitioners), int(num_partitions), partition_dtype(num_partitions))


def partition_dtype(num_partitions: int) -> np.dtype:
    """int8 up to 128 partitions, int16 up to 32768, else int32: the smallest that holds n - 1 and -1."""
    for dtype in (np.int8, np.int16):
        if num_partitions <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.int32)


def partition_keys(keys, num_partitions: int, partitioner: str) -> np.ndarray:
    """The partition each key goes to under `partitioner` (dtype: partition_dtype); -1 where that
    client picks at random.

    `keys` is a pyarrow binary/string array (or chunked array) or a sequence of bytes/None.
    """
    return partition_all(keys, num_partitions, (partitioner,))[partitioner]


def _place(keys, names: tuple[str, ...], modulus: int, dtype, progress: bool = False) -> dict[str, np.ndarray]:
    """Per partitioner, every key's placement hash `% modulus` (2**32 keeps the hash), -1 for random.

    Keys go in chunks of CHUNK_ROWS, on as many threads as there are cores (the C kernel and NumPy
    release the GIL), each chunk writing its slice of the outputs; NumPy's passes over a chunk stay
    in the CPU cache."""
    array = _as_binary_array(keys)
    placed = {name: np.empty(len(array), dtype) for name in names}
    starts = range(0, len(array), CHUNK_ROWS)
    with tqdm(total=len(array), unit="keys", unit_scale=True, desc="hash keys", disable=not progress) as bar, \
            ThreadPoolExecutor(max_workers=max(1, min(len(starts), os.cpu_count() or 1))) as pool:
        def place_chunk(start: int) -> None:
            chunk = array.slice(start, CHUNK_ROWS)
            out = {name: values[start: start + len(chunk)] for name, values in placed.items()}
            (_place_chunk_native if _native else _place_chunk_numpy)(chunk, modulus, out)
            bar.update(len(chunk))
        for _ in pool.map(place_chunk, starts):
            pass
    return placed


def _place_chunk_native(chunk: pa.Array, modulus: int, out: dict[str, np.ndarray]) -> None:
    offsets, data = _key_buffers(chunk)
    nulls = chunk.is_null().to_numpy(zero_copy_only=False) if chunk.null_count else None
    _native.place_keys(offsets, data, nulls, modulus, *(out.get(name) for name in PARTITIONERS))


def _place_chunk_numpy(chunk: pa.Array, modulus: int, out: dict[str, np.ndarray]) -> None:
    """_place_chunk_native's result with NumPy; a hash shared by several partitioners (FNV-1a) is
    computed once."""
    column = KeyColumn(chunk)
    random_rows = {False: np.flatnonzero(column.null), True: np.flatnonzero(column.null | column.empty)}
    hashes: dict = {}
    for name, values in out.items():
        hash_function, to_positive = _HASHES[name]
        if hash_function not in hashes:
            hashes[hash_function] = hash_function(column)
        np.remainder(column.unsort(to_positive(hashes[hash_function])), modulus, out=values, casting="unsafe")
        values[random_rows[name in _EMPTY_IS_RANDOM]] = -1
