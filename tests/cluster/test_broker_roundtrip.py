"""The real broker keeps every field of a record byte for byte (the ground every dump test stands on)."""
from __future__ import annotations

import random

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

pytestmark = pytest.mark.broker


def sample_records(count: int, seed: int = 7) -> list[dict]:
    """Records with null, empty and binary keys/values, repeated header keys and explicit timestamps."""
    rng = random.Random(seed)
    base_ts = 1_700_000_000_000
    records = []
    for i in range(count):
        kind = i % 5
        key = [None, b"", bytes(rng.getrandbits(8) for _ in range(8)), f"key-{i}".encode(), b"\x00\xff"][kind]
        value = [b"", None, bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300))), b"{}", f"v{i}".encode()][
            (i // 5) % 5
        ]
        headers = [("trace", f"t{i}".encode()), ("dup", b"1"), ("dup", b"2"), ("nul", None)] if i % 3 == 0 else []
        records.append({"key": key, "value": value, "headers": headers, "timestamp": base_ts + i * 7})
    return records


def test_every_field_survives_a_round_trip(bootstrap, make_topic):
    topic = make_topic(partitions=1)
    records = sample_records(3000)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for rec in records:
        producer.produce(topic, key=rec["key"], value=rec["value"], headers=rec["headers"] or None,
                         timestamp=rec["timestamp"])
    assert producer.flush(30) == 0

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "evkit-test-throwaway",
                         "enable.auto.commit": False, "enable.auto.offset.store": False,
                         "auto.offset.reset": "error"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < len(records):
        for msg in consumer.consume(1000, timeout=10):
            assert msg.error() is None, msg.error()
            got.append(msg)
    consumer.close()

    assert [m.offset() for m in got] == list(range(len(records)))
    for msg, rec in zip(got, records):
        assert msg.key() == rec["key"]
        assert msg.value() == rec["value"]
        assert (msg.headers() or []) == rec["headers"]
        assert msg.timestamp() == (1, rec["timestamp"])  # TIMESTAMP_CREATE_TIME
