"""Small datasets with known content for the analysis tests, written without a broker (write_records)."""
from __future__ import annotations

import json
from pathlib import Path

from evkit.store.records import records_table
from evkit.store.writer import write_records

BASE_MS = 1_700_000_000_000
FIELDS = {"event_id": "$.id", "sequence": "$.seq", "event_time": "$.ts", "event_type": "$.type"}


def traceparent(trace: int) -> bytes:
    return f"00-{trace:032x}-{trace:016x}-01".encode()


def event(topic: str, partition: int, offset: int, ts: int, entity: str, seq: int, *, event_id: str | None = None,
          event_ts: int | None = None, **extra) -> dict:
    """One record of the clean stream's shape: key = entity, JSON value with id, seq, ts, type."""
    value = {"id": event_id or f"{topic}-{entity}-{seq}", "seq": seq, "ts": ts if event_ts is None else event_ts,
             "type": "bet", "user": entity}
    return {"topic": topic, "partition": partition, "offset": offset, "timestamp": ts, "key": entity.encode(),
            "value": json.dumps(value).encode(), "headers": [("traceparent", traceparent(seq * 100 + int(entity[1:])))],
            **extra}


def clean_stream(topic: str = "orders", *, partitions: int = 3, entities: int = 6, per_entity: int = 25,
                 step_ms: int = 1000) -> list[dict]:
    """Entity e{n} lives in partition n % partitions; one event per step, round-robin over entities."""
    rows, offsets, ts = [], [0] * partitions, BASE_MS
    for seq in range(per_entity):
        for n in range(entities):
            partition = n % partitions
            rows.append(event(topic, partition, offsets[partition], ts, f"e{n}", seq))
            offsets[partition] += 1
            ts += step_ms
    return rows


def append(rows: list[dict], partition: int, **fields) -> dict:
    """Add a record at the next offset of `partition` (topic of the first row unless given)."""
    topic = fields.pop("topic", rows[0]["topic"])
    offset = 1 + max((r["offset"] for r in rows if r["topic"] == topic and r["partition"] == partition), default=-1)
    record = {"topic": topic, "partition": partition, "offset": offset, **fields}
    rows.append(record)
    return record


def write(root: Path, rows: list[dict], **options) -> Path:
    write_records(root, records_table(rows), **options)
    return root
