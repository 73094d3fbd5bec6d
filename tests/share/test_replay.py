"""Replay through the real broker: dump -> replay -> dump -> diff finds nothing; every refusal exact.

The source and the target are the one test broker, so every replay here passes
i_know_this_is_the_source_cluster=True except the test of that refusal.
"""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka.admin import NewTopic

import evkit
from conftest import wait_for_leaders
from evkit.partitioning.hashes import partition_keys
from support.dumping import dataset_rows, produce
from evkit.store.manifest import read_manifests
from share_cli import run_cli

BASE_MS = 1_764_000_000_000
# Headers (repeated names, null and empty values), null vs empty keys and values, timestamps, 3 partitions.
RECORDS = [
    {"key": f"k{i % 5}".encode(), "value": f'{{"id":"e{i}","n":{i}}}'.encode(), "partition": i % 3,
     "timestamp": BASE_MS + i * 1000, "headers": [("h", b"x"), ("h", f"{i}".encode())]}
    for i in range(12)
] + [
    {"key": None, "value": None, "partition": 0, "timestamp": BASE_MS + 20_000},
    {"key": b"", "value": b"", "partition": 1, "timestamp": BASE_MS + 21_000, "headers": [("empty", b""), ("null", None)]},
    {"key": b"k9", "value": b"\x00\xffnot json", "partition": 2, "timestamp": BASE_MS + 22_000},
]


@pytest.fixture(scope="module")
def source(bootstrap, admin, tmp_path_factory):
    """A 3-partition topic with RECORDS, and its dump."""
    topic = f"replay-source-{uuid.uuid4().hex[:8]}"
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    wait_for_leaders(admin, topic, 3)
    produce(bootstrap, topic, RECORDS)
    out = tmp_path_factory.mktemp("replay") / "source"
    evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], quiet=True)
    return topic, out


def test_round_trip_is_equal(bootstrap, make_topic, source, tmp_path):
    topic, dataset = source
    target = make_topic(partitions=3)
    result = evkit.replay(dataset, to=bootstrap, topic_map=[f"{topic}={target}"], i_know_this_is_the_source_cluster=True,
                          quiet=True)
    assert result.sent == len(RECORDS)
    assert [(p.topic, p.partition, p.target_topic, p.records) for p in result.plan] == \
        [(topic, 0, target, 5), (topic, 1, target, 5), (topic, 2, target, 5)]
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "target", topics=[target], quiet=True)
    for identity in ("content", "position"):
        report = evkit.diff(dataset, tmp_path / "target", topic_map={topic: target}, identity=identity, quiet=True)
        assert report.equal, report.to_text()
        assert report.summary == [{"topic": topic, "a_records": 15, "b_records": 15, "matched": 15, "only_in_a": 0,
                                   "only_in_b": 0, "changed": 0, "moved": 0}]
    source_rows = dataset_rows(dataset)
    target_rows = dataset_rows(tmp_path / "target")
    for before, after in zip(source_rows, target_rows):
        assert (after["partition"], after["offset"], after["key"], after["value"], after["timestamp"]) == \
            (before["partition"], before["offset"], before["key"], before["value"], before["timestamp"])
        assert after["headers"] == before["headers"] + [
            {"key": "evkit-replay", "value": f"source:{topic}/{before['partition']}@{before['offset']}".encode()}]
    # the provenance header is what tells them apart when it is compared
    report = evkit.diff(dataset, tmp_path / "target", topic_map={topic: target}, identity="position", ignore_headers=[],
                        quiet=True)
    assert report.counts() == {"only_in_a": 0, "only_in_b": 0, "changed": 15, "moved": 0}
    assert {tuple(d["fields"]) for d in report.differences} == {("headers",)}


def test_named_partitioner_now_timestamps_no_provenance_and_a_part(bootstrap, make_topic, source, tmp_path):
    topic, dataset = source
    target = make_topic(partitions=4)
    code, out, err = run_cli("replay", str(dataset), "--to", bootstrap, "--topic-map", f"{topic}={target}",
                             "--i-know-this-is-the-source-cluster", "--partitioning", "java_murmur2",
                             "--timestamps", "now", "--no-provenance", "--where", "octet_length(key) > 0",
                             "--start", "2", "-q")
    assert (code, out, err) == (0, "", "")
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "target", topics=[target], quiet=True)
    rows = dataset_rows(tmp_path / "target")
    expected = [r for r in dataset_rows(dataset) if r["key"] and r["offset"] >= 2]
    assert sorted((r["key"], r["value"]) for r in rows) == sorted((r["key"], r["value"]) for r in expected)
    placed = partition_keys([r["key"] for r in rows], 4, "java_murmur2")
    assert [r["partition"] for r in rows] == placed.tolist()
    assert all(h["key"] != "evkit-replay" for r in rows for h in r["headers"])
    assert min(r["timestamp"].timestamp() for r in rows) * 1000 > BASE_MS + 10**9  # now, not as recorded


def test_dry_run_prints_the_plan_and_sends_nothing(bootstrap, make_topic, source, admin):
    topic, dataset = source
    target = make_topic(partitions=3)
    code, out, err = run_cli("replay", str(dataset), "--to", bootstrap, "--topic-map", f"{topic}={target}",
                             "--i-know-this-is-the-source-cluster", "--topic", f"{topic}:1", "--dry-run")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"replay {dataset} -> {bootstrap}:"
    assert lines[2].split() == [f"{topic}/1", target, "(partition", "1)", "5", "[0,", "4]", "0.0"]
    assert lines[3:] == ["  total: 5 records", "dry run: nothing sent"]
    high = admin.list_topics(target).topics[target].partitions
    assert len(high) == 3  # and the target is still empty: a real replay into it succeeds
    assert evkit.replay(dataset, to=bootstrap, topic_map={topic: target}, i_know_this_is_the_source_cluster=True,
                        topics=[f"{topic}:1"], quiet=True).sent == 5


def test_refusals(bootstrap, make_topic, source):
    topic, dataset = source
    small = make_topic(partitions=2)
    base = ["replay", str(dataset), "--to", bootstrap]
    cases = {
        (): f"evkit: error: {bootstrap} is the cluster the dataset was dumped from ({_cluster(dataset)}); replay to "
            "another cluster, or pass --i-know-this-is-the-source-cluster",
        ("--i-know-this-is-the-source-cluster",): f"evkit: error: target topic {topic} already holds 15 record(s); "
            "replay into an empty topic, or pass --allow-non-empty",
        ("--i-know-this-is-the-source-cluster", "--topic-map", f"{topic}={small}"):
            f"evkit: error: target topic {small} has 2 partitions; replaying to the same partitions needs 3 "
            "(or --partitioning default / a partitioner name)",
        ("--i-know-this-is-the-source-cluster", "--topic-map", f"{topic}=no-such-topic-x"):
            f"evkit: error: target topic no-such-topic-x does not exist on {bootstrap}; create it (with at least 3 "
            "partitions): replay never creates topics",
        ("--topic-map", "nope"): "evkit: error: --topic-map 'nope': expected TOPIC=OTHER_TOPIC",
        ("--topic-map", "other=x"): f"evkit: error: --topic-map names other, not in {dataset}",
        ("--max-rate", "fast"): "evkit: error: --max-rate 'fast': expected records per second (1000 or 1000/s) or "
                                "MB/s (5MB/s), above 0",
        ("--partitioning", "crc"): "evkit: error: --partitioning must be one of same, default, java_murmur2, "
                                   "librdkafka_consistent, librdkafka_fnv1a, sarama_hash, sarama_reference, kafkajs_legacy, not 'crc'",
        ("--start", "beginning"): "evkit: error: --start 'beginning': replay takes an offset, an ISO-8601 time or @EPOCH_MS",
    }
    for extra, message in cases.items():
        code, out, err = run_cli(*base, *extra)
        assert (code, out, err.strip()) == (2, "", message), extra
    code, out, err = run_cli(*base, "--where", "no_such_column = 1")
    assert code == 2 and out == "" and err.startswith("evkit: error: --where / --topic / --start / --end select nothing "
                                                      "readable: Binder Error:") and err.count("\n") == 1


def _cluster(dataset) -> str:
    return read_manifests(dataset)[0].cluster_id


def test_max_rate_forms():
    from evkit.share.replay import parse_rate

    assert parse_rate("1000") == (1000.0, "records")
    assert parse_rate("250/s") == (250.0, "records")
    assert parse_rate("5MB/s") == (5e6, "bytes")
    assert parse_rate(None) is None
