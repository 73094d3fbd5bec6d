"""Helpers for dump tests: produce known records to the real broker, read a dataset back as rows."""
from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pyarrow.parquet as pq
from confluent_kafka import Consumer, Producer, TopicPartition

from evkit.store.layout import data_files, manifest_path
from evkit.store.manifest import read_manifests


def produce(bootstrap: str, topic: str, records: list[dict], **config) -> None:
    """Produce dicts with key, value, optional headers/partition/timestamp; wait for every ack.

    Idempotence keeps each partition's records in the order given even when a request is retried
    (e.g. right after a broker restart), so tests can predict every record's offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True, **config})
    failures = []
    for rec in records:
        extra = {k: rec[k] for k in ("partition", "timestamp") if rec.get(k) is not None}
        producer.produce(topic, key=rec.get("key"), value=rec.get("value"), headers=rec.get("headers") or None,
                         on_delivery=lambda err, _msg: err and failures.append(err), **extra)
    assert producer.flush(30) == 0
    assert failures == []


def dataset_rows(root: Path, columns: list[str] | None = None) -> list[dict]:
    """Every row of a dataset, ordered by topic, partition, offset, as dicts."""
    rows = []
    for path in data_files(root):
        rows.extend(pq.read_table(path, columns=columns).to_pylist())
    return sorted(rows, key=lambda r: (r.get("topic"), r.get("partition"), r.get("offset")))


def only_manifest(root: Path) -> dict:
    """The one run manifest of a dataset, as the JSON on disk."""
    manifests = read_manifests(root)
    assert len(manifests) == 1, [m.run_id for m in manifests]
    return json.loads(manifest_path(root, manifests[0].run_id).read_text())


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(Path(root).rglob("*")) if p.is_file())


def headers_as_pairs(headers: list[dict]) -> list[tuple]:
    return [(h["key"], h["value"]) for h in headers]


def pretty(obj) -> str:
    return json.dumps(obj, indent=1, default=str)


def wait_for_compaction(bootstrap: str, topic: str, timeout: float = 90) -> None:
    """Roll segments (one filler record at a time) until the log cleaner has removed some offset."""
    producer = Producer({"bootstrap.servers": bootstrap})
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"evkit-test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False})
    deadline = time.monotonic() + timeout
    try:
        for filler in range(1_000_000):
            if time.monotonic() > deadline:
                break
            producer.produce(topic, key=b"filler", value=f"filler {filler}".encode())
            producer.flush(10)
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            consumer.assign([TopicPartition(topic, 0, 0)])
            seen = 0
            while (message := consumer.poll(5)) is not None and not message.error():
                seen += 1
                if message.offset() >= high - 1:
                    break
            if seen < high:
                return
        raise TimeoutError(f"the log cleaner did not compact {topic} within {timeout}s")
    finally:
        consumer.close()
