"""`evkit partition` and `evkit.partition`: the per-key calculator, in text and JSON."""
from __future__ import annotations

import json

import pytest
from confluent_kafka import consistent, fnv1a, murmur2

import evkit
from evkit.partitioning.hashes import PARTITIONERS
from evkit.cli import main


def fnv1a_reference(key: bytes) -> int:
    """Plain FNV-1a 32 as its authors define it, one byte at a time (a few keys only)."""
    h = 0x811C9DC5
    for byte in key:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_json_gives_one_object_per_key_with_every_partitioner(capsys):
    # kafkajs_legacy hashes from kafkajs' own legacy/murmur2.js: 0000002a -> 1429923444,
    # 000000000000002a -> -1443462417 (see tests/clients/node/hashes.js).
    code, out, err = run(capsys, "partition", "--partitions", "12", "--key-format", "int32", "--format", "json",
                          "--", "42", "-7")
    assert (code, err) == (0, "")
    rows = [json.loads(line) for line in out.splitlines()]
    forty_two, minus_seven = b"\x00\x00\x00\x2a", b"\xff\xff\xff\xf9"
    assert rows[0] == {
        "key": "42", "partitions": 12,
        "java_murmur2": murmur2(forty_two, 12), "librdkafka_consistent": consistent(forty_two, 12),
        "librdkafka_fnv1a": fnv1a(forty_two, 12), "sarama_hash": fnv1a(forty_two, 12),
        "sarama_reference": (fnv1a_reference(forty_two) & 0x7FFFFFFF) % 12, "kafkajs_legacy": 1429923444 % 12,
    }
    assert rows[1]["key"] == "-7" and rows[1]["java_murmur2"] == murmur2(minus_seven, 12)
    assert len(rows) == 2

    code, out, _ = run(capsys, "partition", "42", "-n", "12", "--key-format", "int64", "--format", "json")
    eight_bytes = (42).to_bytes(8, "big")
    assert json.loads(out)["java_murmur2"] == murmur2(eight_bytes, 12)
    assert json.loads(out)["kafkajs_legacy"] == (-1443462417 & 0x7FFFFFFF) % 12


def test_text_table_names_every_partitioner_and_random_placements(capsys):
    code, out, _ = run(capsys, "partition", "100:48069", "--partitions", "12", "--key-format", "utf8")
    assert code == 0
    assert out == (
        "key        java_murmur2  librdkafka_consistent  librdkafka_fnv1a  sarama_hash  sarama_reference  kafkajs_legacy\n"
        f"100:48069  9             {consistent(b'100:48069', 12)}                      "
        f"{fnv1a(b'100:48069', 12)}                 {fnv1a(b'100:48069', 12)}            "
        f"{(fnv1a_reference(b'100:48069') & 0x7FFFFFFF) % 12}                 6\n"
    )
    code, out, _ = run(capsys, "partition", "", "--partitions", "12", "--key-format", "hex")
    assert out.splitlines()[1].split() == ['""', str(murmur2(b"", 12)), "random", str(fnv1a(b"", 12)),
                                           str(fnv1a(b"", 12)), str((0x811C9DC5 & 0x7FFFFFFF) % 12), "0"]


def test_python_function_takes_null_and_raw_bytes_keys():
    rows = evkit.partition([None, b"\x00\x00\x00\x2a"], partitions=12)
    assert rows[0] == {"key": None, "partitions": 12} | {name: None for name in PARTITIONERS}
    assert rows[1]["key"] == "0000002a" and rows[1]["java_murmur2"] == murmur2(b"\x00\x00\x00\x2a", 12)
    assert evkit.partition(["0000002a"], partitions=12, key_format="hex")[0]["java_murmur2"] == rows[1]["java_murmur2"]


@pytest.mark.parametrize(("argv", "message"), [
    (["zz", "-n", "3", "--key-format", "hex"], "key 'zz' is not hex (two hex digits per byte, e.g. 0000002a)"),
    (["4x", "-n", "3", "--key-format", "int32"], "key '4x' is not an integer, as --key-format int32 needs"),
    (["2147483648", "-n", "3", "--key-format", "int32"], "key '2147483648' does not fit in a signed 32-bit integer"),
    (["k", "-n", "0"], "the partition count must be a positive integer, not 0"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "partition", *argv)
    assert (code, out, err) == (2, "", f"evkit: error: {message}\n")


def test_missing_partition_count_is_a_usage_error(capsys):
    code, out, err = run(capsys, "partition", "k")
    assert code == 2 and out == ""
    assert "Missing option '--partitions'" in err
