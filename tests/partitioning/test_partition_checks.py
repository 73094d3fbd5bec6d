"""The partition-hash checks (split_key, partitioner, key_encoding, partition_count_change) on
datasets written with evkit.store.writer.write_records, records placed by evkit.partitioning.hashes exactly as
each client would place them (the cross-client test does the same with the real clients)."""
from __future__ import annotations

import struct
from itertools import count

import pytest

import evkit
from evkit import check
from evkit.store.records import records_table
from evkit.store.writer import write_records
from evkit.partitioning.hashes import partition_all

T0 = 1_700_000_000_000


class Topic:
    """Records of one topic as producers with given partitioners would write them."""

    def __init__(self, name: str, partitions: int):
        self.name, self.partitions = name, partitions
        self.rows: list[dict] = []
        self.next_offset = {p: count() for p in range(partitions)}
        self.clock = count(T0)

    def produce(self, keys: list[bytes], partitioner: str, *, producer: str | None = None,
                partitions: int | None = None) -> None:
        placed = partition_all(keys, partitions or self.partitions, (partitioner,))[partitioner]
        headers = [("producer", producer.encode())] if producer else []
        for key, partition in zip(keys, placed.tolist()):
            self.rows.append({"topic": self.name, "partition": partition, "offset": next(self.next_offset[partition]),
                              "timestamp": next(self.clock), "key": key, "value": b"v", "headers": headers})


def write(tmp_path, *topics: Topic) -> str:
    write_records(tmp_path, records_table([row for topic in topics for row in topic.rows]),
                  partition_counts={topic.name: topic.partitions for topic in topics})
    return str(tmp_path)


def findings(path: str, checks: str, **options) -> list[dict]:
    return check(path, checks=checks, quiet=True, **options).findings


KEYS = [f"order-{i}".encode() for i in range(300)]


def test_mixed_producers_split_keys_and_are_each_attributed(tmp_path):
    mixed, agreeing = Topic("mixed", 12), Topic("agreeing", 12)
    mixed.produce(KEYS, "java_murmur2", producer="java")
    mixed.produce(KEYS, "sarama_hash", producer="go")
    mixed.produce(KEYS, "librdkafka_consistent", producer="librdkafka")
    agreeing.produce(KEYS, "java_murmur2", producer="java")
    agreeing.produce(KEYS, "java_murmur2", producer="kafkajs")
    path = write(tmp_path, mixed, agreeing)

    placed = partition_all(KEYS, 12, ("java_murmur2", "sarama_hash", "librdkafka_consistent"))
    split = {key for i, key in enumerate(KEYS) if len({int(p[i]) for p in placed.values()}) > 1}
    split_findings = findings(path, "split_key")
    assert {(f["topic"], f["key"].encode()) for f in split_findings} == {("mixed", key) for key in split}
    assert all(f["severity"] == "error" and f["partition"] is None for f in split_findings)

    with evkit.open(path, quiet=True) as ds:
        ds.use("partitioner")
        rows = ds.sql("SELECT topic, producer, verdict, partitioner, confidence, records, keys "
                      "FROM producer_partitioners ORDER BY topic, producer").fetchall()
    assert rows == [
        ("agreeing", "java", "attributed", "java_murmur2", 1.0, 300, 300),
        ("agreeing", "kafkajs", "attributed", "java_murmur2", 1.0, 300, 300),
        ("mixed", "go", "attributed", "sarama_hash/librdkafka_fnv1a", 1.0, 300, 300),
        ("mixed", "java", "attributed", "java_murmur2", 1.0, 300, 300),
        ("mixed", "librdkafka", "attributed", "librdkafka_consistent", 1.0, 300, 300),
    ]
    attributions = findings(path, "partitioner")
    assert [(f["topic"], f["severity"]) for f in attributions] == [("mixed", "warning")] * 3
    producers = "Producers of mixed: go: sarama_hash/librdkafka_fnv1a, java: java_murmur2, librdkafka: librdkafka_consistent"
    java = next(f for f in attributions if "'java'" in f["detail"])
    assert java["detail"].startswith("producer 'java' wrote 300 keyed record(s) with 300 distinct key(s) to mixed: "
                                     "placed by java_murmur2, confidence 100.0% (next best candidate ")
    assert java["detail"].endswith(producers)


def test_agreeing_producers_report_nothing(tmp_path):
    topic = Topic("agreeing", 12)
    topic.produce(KEYS, "java_murmur2", producer="java")
    topic.produce(KEYS, "kafkajs_legacy", producer="kafkajs")  # legacy agrees on 4-byte-multiple keys only
    topic.rows = [row for row in topic.rows if row["headers"][0][1] == b"java"]
    topic.produce(KEYS, "java_murmur2", producer="librdkafka")
    path = write(tmp_path, topic)
    report = check(path, checks="split_key,partitioner,key_encoding,partition_count_change", quiet=True)
    assert (report.findings, report.exit_code) == ([], 0)


def test_producers_without_header_are_inferred_by_placement(tmp_path):
    topic = Topic("untagged", 12)
    topic.produce(KEYS[:200], "java_murmur2")
    topic.produce(KEYS[100:], "librdkafka_consistent")
    path = write(tmp_path, topic)
    with evkit.open(path, quiet=True) as ds:
        ds.use("partitioner")
        rows = ds.sql("SELECT producer, verdict, partitioner FROM producer_partitioners ORDER BY producer").fetchall()
    assert rows == [("(no header) java_murmur2", "attributed", "java_murmur2"),
                    ("(no header) librdkafka_consistent", "attributed", "librdkafka_consistent")]


def test_header_name_is_configurable_and_ambiguity_is_reported(tmp_path):
    # One partition: every candidate puts every key there, so nothing can be told apart.
    topic = Topic("single", 1)
    topic.produce([b"a", b"b"], "java_murmur2", producer="x")
    topic.rows = [row | {"headers": [("source", b"svc")]} for row in topic.rows]
    topic.produce([b"c"], "java_murmur2", producer="svc")  # header "producer": not the configured one
    path = write(tmp_path, topic)
    config = {"checks": {"partitioner": {"producer_header": "source", "min_fit": 1.0}}}
    with evkit.open(path, config=config, quiet=True) as ds:
        ds.use("partitioner")
        rows = ds.sql("SELECT producer, verdict, partitioner, consistent FROM producer_partitioners ORDER BY producer").fetchall()
    everything = ["java_murmur2", "kafkajs_legacy", "librdkafka_consistent", "sarama_hash/librdkafka_fnv1a", "sarama_reference"]
    assert rows == [("(no header) java_murmur2", "ambiguous", None, everything), ("svc", "ambiguous", None, everything)]
    assert findings(path, "partitioner", config=config) == []


def test_unexplained_placement_is_flagged(tmp_path):
    topic = Topic("custom", 12)
    for i, key in enumerate(KEYS[:100]):
        topic.rows.append({"topic": "custom", "partition": i % 12, "offset": i, "timestamp": T0 + i, "key": key,
                           "value": b"v", "headers": [("producer", b"custom")]})
    path = write(tmp_path, topic)
    [finding] = findings(path, "partitioner")
    assert finding["severity"] == "warning"
    assert "no known partitioner puts them where they are; best " in finding["detail"]
    assert finding["detail"].endswith("Producers of custom: custom: unexplained")


def test_key_encodings_of_one_logical_key(tmp_path):
    def avro_long(value: int) -> bytes:
        zigzag, out = (value << 1) ^ (value >> 63), b""
        while zigzag > 0x7F:
            out, zigzag = out + bytes([zigzag & 0x7F | 0x80]), zigzag >> 7
        return out + bytes([zigzag])

    framed = b"\x00\x00\x00\x00\x07"
    keys = [b"42", struct.pack(">i", 42), struct.pack(">q", 42), b'"42"', framed + avro_long(42),
            framed + avro_long(2) + b"42", framed + b'"42"', b"1000", framed + avro_long(1000), b"other"]
    topic = Topic("encodings", 6)
    topic.produce(keys, "java_murmur2", producer="p")
    path = write(tmp_path, topic)
    by_key = {f["detail"].split(" is written")[0]: f for f in findings(path, "key_encoding")}
    assert set(by_key) == {"logical key 42", "logical key 1000"}
    detail = by_key["logical key 42"]["detail"]
    assert detail.startswith("logical key 42 is written as 7 different keys in encodings: int32_be 0x0000002a (1 record, ")
    for reading in ("int64_be 0x000000000000002a", "json_string '\"42\"'", "sr_avro_long 0x000000000754",
                    "sr_avro_string 0x0000000007043432", "sr_json 0x000000000722343222", "utf8 '42'"):
        assert reading in detail
    assert sorted(by_key["logical key 42"]["offsets"]) == sorted(
        row["offset"] for row in topic.rows if row["key"] in keys[:7])
    assert "sr_avro_long 0x0000000007d00f" in by_key["logical key 1000"]["detail"]


def test_partition_count_change_names_keys_placed_for_the_old_count(tmp_path):
    topic = Topic("grown", 12)
    topic.produce(KEYS[:100], "java_murmur2", producer="java", partitions=6)
    topic.produce(KEYS[:100], "java_murmur2", producer="java")
    path = write(tmp_path, topic)
    old = partition_all(KEYS[:100], 6, ("java_murmur2",))["java_murmur2"]
    new = partition_all(KEYS[:100], 12, ("java_murmur2",))["java_murmur2"]
    moved = {KEYS[i] for i in range(100) if old[i] != new[i]}
    changes = findings(path, "partition_count_change")
    assert {f["key"].encode() for f in changes} == moved
    first = changes[0]
    assert first["severity"] == "info"
    assert " sit where java_murmur2 puts them with 6 partitions, not 12: written before grown grew" in first["detail"]


@pytest.mark.parametrize("config", [{"checks": {"partitioner": {"producer_header": ["a"]}}}])
def test_bad_check_parameter_is_a_usage_error(tmp_path, config):
    topic = Topic("t", 2)
    topic.produce(KEYS[:3], "java_murmur2", producer="p")
    path = write(tmp_path, topic)
    with pytest.raises(evkit.UsageError, match=r"^config \[checks.partitioner\].producer_header: expected a string, got \['a'\]$"):
        check(path, checks="partitioner", config=config, quiet=True)


def test_key_partition_map_draws_each_producer_where_it_put_each_key(tmp_path):
    from evkit import plots

    topic = Topic("mixed", 12)
    topic.produce(KEYS[:30], "java_murmur2", producer="java")
    topic.produce(KEYS[:30], "librdkafka_consistent", producer="librdkafka")
    path = write(tmp_path, topic)
    with evkit.open(path, quiet=True) as ds:
        fig = plots.key_partition_map(ds.records, max_keys=10)
    ax = fig.axes[0]
    rows = [label.get_text() for label in ax.get_yticklabels()]
    assert len(rows) == 10 and ax.get_legend().get_title().get_text() == "producer"
    for collection, producer, partitioner in zip(ax.collections, ("java", "librdkafka"),
                                                 ("java_murmur2", "librdkafka_consistent")):
        assert collection.get_label() == producer
        drawn = {rows[int(y)]: round(x) for x, y in collection.get_offsets()}
        expected = partition_all([key.encode() for key in rows], 12, (partitioner,))[partitioner].tolist()
        assert drawn == dict(zip(rows, expected))
