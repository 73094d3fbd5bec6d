"""Sequence gaps that evkit once missed or under-rated, through the real broker (produce, dump, check).

1. A repeated sequence hid a missing one: the "dense entity" shortcut compared max - min + 1 with
   count(*), and one repeat plus one hole balance out.
2. Lost events were rated `unseen` (info) when a topic was produced in one burst and dumped later:
   "may still arrive" was judged against the partition's last record, not against the moment the
   dump fixed its end offsets.
"""
from __future__ import annotations

import json
import time

import pytest

import evkit
from support.dumping import produce

pytestmark = pytest.mark.broker

FIELDS = {"event_id": "$.id", "sequence": "$.seq"}


def event(entity: str, seq: int, ts: int, copy: int = 0) -> dict:
    value = {"id": f"{entity}-{seq}" + (f"-retry{copy}" if copy else ""), "seq": seq}
    return {"key": entity.encode(), "value": json.dumps(value).encode(), "timestamp": ts, "partition": 0}


def gaps(root, **options) -> list[tuple]:
    report = evkit.check(root, checks="sequence_gap", fields=FIELDS, quiet=True, **options)
    return [(f["severity"], f["offsets"], f["detail"]) for f in report.findings]


def test_a_repeated_sequence_does_not_hide_a_missing_one(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1)
    now = int(time.time() * 1000)
    seqs = [s for s in range(30) if s != 16]
    seqs.insert(seqs.index(15), 14)  # 14 re-sent once (an idempotent re-send of an old event)
    produce(bootstrap, topic, [event("u0", s, now - 120_000 + i) for i, s in enumerate(seqs)])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    # 0..13 at offsets 0..13, 14 at 14 and 15, 15 at 16, then 17 at 17: 16 is missing between 15 and 17
    assert gaps(tmp_path / "ds") == [
        ("error", [16, 17], f"lost: entity u0 of {topic} misses sequence 16..16 (1 events) between 15 at 0:16 and 17 at 0:17"),
    ]


def test_a_burst_dumped_minutes_later_reports_its_gaps_as_lost(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1)
    burst = int(time.time() * 1000) - 5 * 60_000  # every record written within a second, 5 minutes ago
    produce(bootstrap, topic, [event("u0", s, burst + s) for s in (0, 1, 2, 5, 6)])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    manifest = evkit.open(tmp_path / "ds", quiet=True)
    fixed_at = manifest.sql("SELECT epoch_ms(end_fixed_at) FROM manifests").fetchall()[0][0]
    manifest.close()
    assert fixed_at - (burst + 5) > 5 * 60_000 - 1  # the dump looked 5 minutes after the later event
    assert gaps(tmp_path / "ds") == [
        ("error", [2, 3], f"lost: entity u0 of {topic} misses sequence 3..4 (2 events) between 2 at 0:2 and 5 at 0:3"),
    ]


def test_a_gap_written_just_before_the_dump_may_still_arrive(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1)
    now = int(time.time() * 1000)
    produce(bootstrap, topic, [event("u0", s, now + s) for s in (0, 1, 2, 5, 6)])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    config = {"checks": {"sequence_gap": {"unseen_ms": 600_000}}}  # the dump looked well within 10 minutes
    assert gaps(tmp_path / "ds", config=config) == [
        ("info", [2, 3], f"unseen: entity u0 of {topic} misses sequence 3..4 (2 events) between 2 at 0:2 and 5 at 0:3"),
    ]
