"""evkit.partitioning.hashes against published test vectors and librdkafka's own partitioner functions.

The reference for java_murmur2, librdkafka_consistent and librdkafka_fnv1a is librdkafka itself
(`confluent_kafka.murmur2/consistent/fnv1a`, one call per key). kafkajs_legacy is checked against
kafkajs' own code in tests/test_cross_client.py (it needs Node). Every test runs on the C kernel
and on the NumPy fallback (the `hash_backend` fixture).
"""
from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from confluent_kafka import consistent, fnv1a, murmur2

from evkit import UsageError
from evkit.partitioning.hashes import (
    PARTITIONERS,
    KeyColumn,
    crc32,
    fnv1a32,
    kafkajs_legacy_murmur2,
    partition_all,
    partition_keys,
)
from evkit.partitioning.hashes import murmur2 as column_murmur2
from evkit.partitioning.hashes import placement_hashes

pytestmark = pytest.mark.usefixtures("hash_backend")


def hashes(function, keys: list[bytes]) -> list[int]:
    column = KeyColumn(keys)
    return column.unsort(function(column)).tolist()


def signed(values: list[int]) -> list[int]:
    return np.array(values, dtype=np.uint32).view(np.int32).tolist()


def test_murmur2_matches_java_utils_test_vectors():
    # apache/kafka clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java, testMurmur2
    keys = [b"21", b"foobar", b"a-little-bit-long-string", b"a-little-bit-longer-string",
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", b"abc"]
    assert signed(hashes(column_murmur2, keys)) == [
        -973932308, -790332482, -985981536, -1486304829, -58897971, 479470107]


def test_murmur2_and_fnv1a_match_librdkafka_unit_test_vectors():
    # librdkafka src/rdmurmur2.c unittest_murmur2 and src/rdfnv1a.c unittest_fnv1a; rd_fnv1a
    # returns abs(int32 h), so its published values are the absolute values of the raw hash.
    keys = [b"kafka", b"giberish123456789", b"1234", b""]
    assert hashes(column_murmur2, keys) == [0xD067CF64, 0x8F552B0C, 0x9FC97B14, 0x106E08D9]
    assert [abs(h) for h in signed(hashes(fnv1a32, keys))] == [0x0D33C4E1, 0x77A58295, 0x023BDD03, 0x7EE3623B]


def test_hashes_match_librdkafka_partitioner_test_vectors():
    # librdkafka tests/0048-partitioner.c
    keys = [b"23456", b"this is another string with more length to it perhaps", b"hejsan"]
    assert hashes(crc32, keys) == [0xB1B451D7, 0xB0150DF7, 0xD077037E]
    assert [h & 0x7FFFFFFF for h in hashes(column_murmur2, keys)] == [0x058D780F, 0x4F7703DA, 0x5EC19395]
    assert [abs(h) for h in signed(hashes(fnv1a32, keys))] == [0x27E6F469, 0x155E3E5F, 0x17B1E27A]


def test_kafkajs_issue_357_key_lands_on_6_legacy_and_9_java():
    # kafkajs src/producer/partitioners/{default,legacy}/murmur2.spec.js, kafkajs issue #357
    assert signed(hashes(column_murmur2, [b"100:48069"])) == [1009543857]
    placed = partition_all([b"100:48069"], 12, ("java_murmur2", "kafkajs_legacy"))
    assert {name: p.tolist() for name, p in placed.items()} == {"java_murmur2": [9], "kafkajs_legacy": [6]}
    assert kafkajs_legacy_murmur2(KeyColumn([b"100:48069"])).dtype == np.uint32


def random_keys(seed: int, count: int, max_length: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, max_length)) for _ in range(count)]


@pytest.mark.parametrize("num_partitions", [1, 2, 3, 7, 12, 64, 1000, 2**31 - 1])
def test_partitions_equal_librdkafka_for_random_keys(num_partitions):
    keys = random_keys(num_partitions, 3000, 70) + [b"", b"\x00", b"\xff" * 9]
    placed = partition_all(keys, num_partitions)
    expected_consistent = [consistent(key, num_partitions) if key else -1 for key in keys]
    assert placed["java_murmur2"].tolist() == [murmur2(key, num_partitions) for key in keys]
    assert placed["librdkafka_consistent"].tolist() == expected_consistent
    assert placed["librdkafka_fnv1a"].tolist() == [fnv1a(key, num_partitions) for key in keys]
    assert placed["sarama_hash"].tolist() == placed["librdkafka_fnv1a"].tolist()


def test_fnv1a_int32_min_edge():
    # 0e9c450115 hashes to 0x80000000: abs() cannot negate INT32_MIN. librdkafka casts it back to
    # uint32 2**31 before `%`, Sarama takes `%` of the negative int32 then negates: both give 2**31 % n.
    # Sarama's reference partitioner masks the sign bit instead: partition 0.
    key = bytes.fromhex("0e9c450115")
    assert hashes(fnv1a32, [key]) == [0x80000000]
    for n in (3, 7, 12, 100):
        placed = partition_all([key], n)
        assert placed["librdkafka_fnv1a"].tolist() == [fnv1a(key, n)] == [2**31 % n]
        assert placed["sarama_hash"].tolist() == [2**31 % n]
        assert placed["sarama_reference"].tolist() == [0]


def test_null_keys_are_random_everywhere_and_empty_keys_only_under_consistent_random():
    # kafkajs legacy hashes of b"" and b"k" are 275646684 and 2038754824 (kafkajs' legacy/murmur2.js)
    placed = partition_all([None, b"", b"k"], 12)
    assert {name: p.tolist() for name, p in placed.items()} == {
        "java_murmur2": [-1, murmur2(b"", 12), murmur2(b"k", 12)],
        "librdkafka_consistent": [-1, -1, consistent(b"k", 12)],
        "librdkafka_fnv1a": [-1, fnv1a(b"", 12), fnv1a(b"k", 12)],
        "sarama_hash": [-1, fnv1a(b"", 12), fnv1a(b"k", 12)],
        "sarama_reference": [-1, (0x811C9DC5 & 0x7FFFFFFF) % 12, (((0x811C9DC5 ^ 0x6B) * 0x01000193) & 0x7FFFFFFF) % 12],
        "kafkajs_legacy": [-1, 275646684 % 12, 2038754824 % 12],
    }


def test_accepts_arrow_binary_string_sliced_and_chunked_columns():
    keys = [b"alpha", None, b"", b"beta-gamma", b"x"]
    expected = partition_keys(keys, 5, "java_murmur2").tolist()
    binary = pa.array(keys, type=pa.binary())
    assert partition_keys(binary, 5, "java_murmur2").tolist() == expected
    assert partition_keys(binary.cast(pa.large_binary()), 5, "java_murmur2").tolist() == expected
    strings = pa.array([k.decode() if k is not None else None for k in keys])
    assert partition_keys(strings, 5, "java_murmur2").tolist() == expected
    assert partition_keys(binary.slice(1, 3), 5, "java_murmur2").tolist() == expected[1:4]
    chunked = pa.chunked_array([binary.slice(0, 2), binary.slice(2)])
    assert partition_keys(chunked, 5, "java_murmur2").tolist() == expected
    assert partition_keys([], 5, "java_murmur2").tolist() == []
    assert partition_keys([None, None], 5, "kafkajs_legacy").tolist() == [-1, -1]


def test_partitions_come_in_the_smallest_dtype_that_holds_them():
    keys = random_keys(3, 2000, 20)
    for n, dtype in ((1, np.int8), (128, np.int8), (129, np.int16), (32768, np.int16), (32769, np.int32)):
        placed = partition_all(keys, n)
        assert {p.dtype for p in placed.values()} == {np.dtype(dtype)}, n
        assert placed["java_murmur2"].tolist() == [murmur2(key, n) for key in keys]
    assert partition_keys([b"k"], 12, "java_murmur2").dtype == np.int8


def test_every_partitioner_is_implemented():
    assert set(partition_all([b"k"], 3)) == set(PARTITIONERS)


def test_bad_arguments_are_one_line_usage_errors():
    with pytest.raises(UsageError, match=r"^unknown partitioner 'murmur3'; choose from java_murmur2, "):
        partition_keys([b"k"], 3, "murmur3")
    with pytest.raises(UsageError, match=r"^the partition count must be a positive integer, not 0$"):
        partition_keys([b"k"], 0, "java_murmur2")
    with pytest.raises(UsageError, match=r"^keys must be binary or string, not int64$"):
        partition_keys(pa.array([1, 2]), 3, "java_murmur2")


def test_chunks_and_sliced_input_give_the_same_partitions(monkeypatch):
    import evkit.partitioning.hashes

    keys = random_keys(7, 1000, 40) + [None, b""]
    expected = [murmur2(key, 12) if key is not None else -1 for key in keys]
    monkeypatch.setattr(evkit.partitioning.hashes, "CHUNK_ROWS", 7)
    assert partition_keys(keys, 12, "java_murmur2").tolist() == expected
    sliced = pa.array(keys, type=pa.binary()).slice(13, 500)
    assert partition_keys(sliced, 12, "java_murmur2").tolist() == expected[13:513]
    fixed = [key.ljust(12, b"x")[:12] for key in keys[:1000]]  # one length: the no-sort path
    assert partition_all(fixed, 5)["librdkafka_fnv1a"].tolist() == [fnv1a(key, 5) for key in fixed]


def test_placements_match_the_published_vectors():
    # The same vectors as above, through placement_hashes (what the C kernel computes): Java masks
    # the sign bit, librdkafka's rd_fnv1a is abs(int32 h), CRC32 is used unsigned.
    java = [b"21", b"foobar", b"a-little-bit-long-string", b"abc"]
    assert placement_hashes(java, ("java_murmur2",))["java_murmur2"].tolist() == [
        h & 0x7FFFFFFF for h in (-973932308, -790332482, -985981536, 479470107)]
    keys = [b"23456", b"this is another string with more length to it perhaps", b"hejsan"]
    placed = placement_hashes(keys, ("librdkafka_consistent", "librdkafka_fnv1a", "java_murmur2"))
    assert placed["librdkafka_consistent"].tolist() == [0xB1B451D7, 0xB0150DF7, 0xD077037E]
    assert placed["librdkafka_fnv1a"].tolist() == [0x27E6F469, 0x155E3E5F, 0x17B1E27A]
    assert placed["java_murmur2"].tolist() == [0x058D780F, 0x4F7703DA, 0x5EC19395]
    assert placement_hashes([b"100:48069"], ("kafkajs_legacy",))["kafkajs_legacy"].dtype == np.int64
