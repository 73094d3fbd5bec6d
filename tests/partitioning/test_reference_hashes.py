"""The reference model's hashes (tests/reference/hashes.py) against published vectors and librdkafka.

The model must not lean on evkit, so it is checked on its own: the vectors the clients publish
(kafka-facts.md section 1) and librdkafka's own partitioner functions through confluent_kafka.
"""
from __future__ import annotations

import random

import confluent_kafka
import pytest

from tests.reference.hashes import (PARTITIONERS, crc32, fnv1a32, kafkajs_legacy_murmur2, murmur2, partition,
                                    placement_hash, sarama_hash_partition)

# Java kafka-clients UtilsTest.testMurmur2.
JAVA_MURMUR2 = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}
# librdkafka rdmurmur2.c and rdfnv1a.c unit tests (fnv1a: after its abs()).
LIBRDKAFKA_MURMUR2 = {b"kafka": 0xD067CF64, b"giberish123456789": 0x8F552B0C, b"1234": 0x9FC97B14, b"": 0x106E08D9}
LIBRDKAFKA_FNV1A = {b"kafka": 0x0D33C4E1, b"giberish123456789": 0x77A58295, b"1234": 0x023BDD03, b"": 0x7EE3623B}
# librdkafka tests/0048-partitioner.c: partition = value % n (murmur2 after its & 0x7fffffff).
KEYS_0048 = (b"23456", b"this is another string with more length to it perhaps", b"hejsan")
CONSISTENT_0048 = (0xB1B451D7, 0xB0150DF7, 0xD077037E)
MURMUR2_0048 = (0x058D780F, 0x4F7703DA, 0x5EC19395)
FNV1A_0048 = (0x27E6F469, 0x155E3E5F, 0x17B1E27A)
# kafkajs 1.x legacy murmur2 spec (src/producer/partitioners/default/murmur2.spec.js before 2.0).
KAFKAJS_LEGACY = {
    "0": 272173970, "1": 1311020360, "128": 2053105854, "2187": -2081355488, "16384": 204404061,
    "78125": -677491393, "279936": -622460209, "823543": 651276451, "2097152": 944683677,
    "4782969": -892695770, "10000000": -1778616326, "19487171": -518311627, "35831808": 556972389,
    "62748517": -233806557, "105413504": -109398538, "170859375": 102939717,
}


def random_keys(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 40)) for _ in range(count)]


def test_published_vectors():
    for key, expected in JAVA_MURMUR2.items():
        assert murmur2(key) == expected, key
    for key, expected in LIBRDKAFKA_MURMUR2.items():
        assert murmur2(key) & 0xFFFFFFFF == expected, key
    for key, expected in LIBRDKAFKA_FNV1A.items():
        assert placement_hash("librdkafka_fnv1a", key) == expected, key
    for key, c, m, f in zip(KEYS_0048, CONSISTENT_0048, MURMUR2_0048, FNV1A_0048):
        assert crc32(key) == c
        assert murmur2(key) & 0x7FFFFFFF == m  # 0048 lists the masked value
        assert placement_hash("librdkafka_fnv1a", key) == f
        for n in (1, 3, 7, 12, 100):
            assert partition("librdkafka_consistent", key, n) == c % n
            assert partition("java_murmur2", key, n) == (m & 0x7FFFFFFF) % n
            assert partition("librdkafka_fnv1a", key, n) == f % n
    for key, expected in KAFKAJS_LEGACY.items():
        assert kafkajs_legacy_murmur2(key.encode()) == expected, key
    # kafkajs #357: Java's and the legacy murmur2 disagree on this key.
    assert murmur2(b"100:48069") == 1009543857
    assert partition("java_murmur2", b"100:48069", 12) == 9
    assert partition("kafkajs_legacy", b"100:48069", 12) == 6


def test_calculator_examples_of_the_docs():
    """docs/partitioners.md, "The calculator": the table printed for n = 12."""
    expected = {
        b"100:48069": (9, 6, 3, 3, 3, 6),
        b"order-17": (9, 8, 6, 6, 2, 3),
        (42).to_bytes(4, "big", signed=True): (0, 6, 3, 3, 3, 0),
        (-7).to_bytes(4, "big", signed=True): (10, 2, 9, 9, 11, 3),
    }
    for key, partitions in expected.items():
        assert tuple(partition(name, key, 12) for name in PARTITIONERS) == partitions, key


@pytest.mark.parametrize("seed", [1, 2])
def test_against_librdkafka(seed):
    rng = random.Random(seed)
    for key in random_keys(200, seed) + [b"", b"\x00", b"0e9c450115"]:
        n = rng.choice([1, 2, 3, 7, 12, 100, rng.randrange(1, 2**31)])
        assert partition("java_murmur2", key, n) == confluent_kafka.murmur2(key, n), key
        assert partition("librdkafka_fnv1a", key, n) == confluent_kafka.fnv1a(key, n), key
        if key:  # consistent (not _random) sends the empty key to partition 0; consistent_random picks one
            assert partition("librdkafka_consistent", key, n) == confluent_kafka.consistent(key, n), key


def test_null_and_empty_keys():
    for name in PARTITIONERS:
        assert partition(name, None, 12) == -1
    assert partition("librdkafka_consistent", b"", 12) == -1
    for name in set(PARTITIONERS) - {"librdkafka_consistent"}:
        assert partition(name, b"", 12) >= 0


def test_fnv1a_sign_rules():
    """librdkafka's abs and Sarama's `%` then negate agree everywhere, INT32_MIN included."""
    int32_min_key = bytes.fromhex("0e9c450115")
    assert fnv1a32(int32_min_key) == 0x80000000
    assert placement_hash("librdkafka_fnv1a", int32_min_key) == 2**31
    assert partition("sarama_reference", int32_min_key, 12) == 0
    for key in random_keys(300, 3) + [int32_min_key]:
        for n in (1, 2, 3, 12, 2**31 - 1):
            assert partition("sarama_hash", key, n) == sarama_hash_partition(key, n)
            assert partition("sarama_hash", key, n) == partition("librdkafka_fnv1a", key, n)

