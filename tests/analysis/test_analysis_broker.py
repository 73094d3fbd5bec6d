"""The checks over real dumps: records written through the real broker and read back by `evkit dump`.

Clean data, a transactional topic with committed and aborted transactions (both isolation levels)
and a compacted topic must give no findings; an injected duplicate and sequence gap must be found.
"""
from __future__ import annotations

import json
import time
import uuid

import pytest
from confluent_kafka import Producer

import evkit
from support.dumping import produce, wait_for_compaction
from evkit.cli import main

pytestmark = pytest.mark.broker

ANALYSIS_CHECKS = "field_coverage,duplicate,offset_gap,sequence_gap,silence,out_of_order"
FIELDS = {"event_id": "$.id", "sequence": "$.seq", "event_time": "$.ts"}
BASE_TS = (int(time.time()) - 600) * 1000  # recent: older records would fall to the topic's retention


def bet(entity: str, seq: int, *, ts: int | None = None, event_id: str | None = None) -> dict:
    ts = BASE_TS + seq * 1000 if ts is None else ts
    value = {"id": event_id or f"{entity}-{seq}", "seq": seq, "ts": ts}
    return {"key": entity.encode(), "value": json.dumps(value).encode(), "timestamp": ts}


def findings(root, **options) -> list[dict]:
    return evkit.check(root, checks=ANALYSIS_CHECKS, fields=FIELDS, quiet=True, **options).findings


def test_clean_dump_has_no_findings_and_injected_anomalies_are_found(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1)
    records = [bet(f"u{n}", seq) for seq in range(10) for n in range(3)]
    produce(bootstrap, topic, records)
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "clean", topics=[topic], quiet=True)
    assert findings(tmp_path / "clean") == []

    # u1's event 1 is re-sent; u0 skips 10 and 11 and u2 goes on long enough after that for it to be lost.
    produce(bootstrap, topic, [records[4], bet("u0", 12), bet("u2", 10, ts=BASE_TS + 25_000)])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "clean", topics=[topic], quiet=True)  # extends the dataset
    found = findings(tmp_path / "clean")
    assert [(f["check"], f["severity"], f["offsets"], f["event_ids"], f["detail"]) for f in found] == [
        ("sequence_gap", "error", [27, 31], ["u0-9", "u0-12"],
         f"lost: entity u0 of {topic} misses sequence 10..11 (2 events) between 9 at 0:27 and 12 at 0:31"),
        ("duplicate", "warning", [4, 30], ["u1-1"],
         "logical duplicate: event_id u1-1 stored 2 times at 0:4, 0:30 within 0.000 s (identical bytes)"),
        ("sequence_regression", "warning", [28, 30], ["u1-9", "u1-1"],
         f"entity u1 of {topic}/0 went back from sequence 9 at offset 28 to 1 at offset 30"),
        ("out_of_order", "warning", [30], ["u1-1"],
         f"event u1-1 {topic}/0@30 (entity u1) has event time 8.000 s before an earlier event of its entity"),
    ]


def produce_transactions(bootstrap: str, topic: str) -> None:
    """Per partition: committed, aborted, committed, aborted, committed transactions of 3 events each."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"evkit-test-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for txn in range(5):
        producer.begin_transaction()
        for partition in (0, 1):
            for i in range(3):
                record = bet(f"p{partition}", txn * 3 + i, event_id=f"p{partition}-{txn}-{i}")
                producer.produce(topic, key=record["key"], value=record["value"], partition=partition,
                                 timestamp=record["timestamp"])
        if txn % 2:
            producer.flush(30)  # the records reach the log first; abort would otherwise just drop them
            producer.abort_transaction(30)
        else:
            producer.commit_transaction(30)


def test_transactional_topic_with_aborted_transactions_has_no_findings(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=2)
    produce_transactions(bootstrap, topic)
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "rc", topics=[topic], quiet=True)
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ru", topics=[topic], isolation="read_uncommitted", quiet=True)
    # Committed transactions 0, 2, 4 hold sequences 0-2, 6-8, 12-14: the aborted ones leave sequence
    # gaps in the data, which is what an application sees, so the sequence check is left out here.
    checks = "field_coverage,duplicate,offset_gap,silence,out_of_order"
    assert evkit.check(tmp_path / "rc", checks=checks, fields=FIELDS, quiet=True).findings == []
    assert evkit.check(tmp_path / "ru", checks=checks, fields=FIELDS, quiet=True).findings == []
    with evkit.open(tmp_path / "rc", quiet=True) as ds:
        gaps = ds.offset_gaps().project("partition, gap_start, gap_end, classification").fetchall()
    # Each partition: 3 records + marker per transaction; aborted ones hide records and marker.
    assert gaps == [(p, start, end, kind) for p in (0, 1) for start, end, kind in (
        (3, 8, "transaction_aborted"), (11, 16, "transaction_aborted"), (19, 20, "transaction_marker"))]
    with evkit.open(tmp_path / "ru", quiet=True) as ds:
        assert {c for (c,) in ds.offset_gaps().project("classification").fetchall()} == {"transaction_marker"}


def test_compacted_topic_has_no_findings(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1, config={"cleanup.policy": "compact", "segment.ms": "100",
                                             "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"})
    produce(bootstrap, topic, [{"key": f"k{i % 4}".encode(), "value": f"v{i}".encode()} for i in range(40)])
    wait_for_compaction(bootstrap, topic)
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    assert evkit.check(tmp_path / "ds", checks=ANALYSIS_CHECKS, quiet=True).findings == []
    with evkit.open(tmp_path / "ds", quiet=True) as ds:
        kinds = {c for (c,) in ds.offset_gaps().project("classification").fetchall()}
        assert kinds == {"compaction"}


def test_a_dump_without_sequences_says_the_sequence_checks_were_skipped(bootstrap, make_topic, tmp_path, capsys):
    topic = make_topic(partitions=2)
    records = [{"key": f"u{n}".encode(), "value": json.dumps({"id": f"u{n}-{i}", "ts": BASE_TS + i}).encode(),
                "timestamp": BASE_TS + i} for i in range(5) for n in range(4)]
    produce(bootstrap, topic, records)
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    args = ["check", str(tmp_path / "ds"), "--checks", ANALYSIS_CHECKS, "--field", "event_id=$.id", "--quiet"]
    skipped = "no topic maps a sequence field (--field sequence=SOURCE or [topics.<t>] sequence = SOURCE)"
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == [
        "0 finding(s)", "offset gaps: none", f"skipped sequence_gap, sequence_regression: {skipped}"]
    assert main([*args, "--format", "json"]) == 0
    run = ["duplicate", "field_coverage", "offset_gap", "out_of_order", "silence"]
    assert json.loads(capsys.readouterr().out.splitlines()[-1]) == {"summary": {
        "records": 20, "run": run,
        "skipped": {name: {"topics": [topic], "reason": skipped} for name in ("sequence_gap", "sequence_regression")},
        "findings": {name: {"error": 0, "warning": 0, "info": 0} for name in run},
        "offset_gaps": {"transaction_marker": 0, "transaction_aborted": 0, "compaction": 0, "retention": 0,
                        "not_dumped": 0, "unexplained": 0},
        "causes": []}}
