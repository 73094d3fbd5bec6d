"""evkit works with exactly a read-only analyst's permissions on a SASL_SSL cluster, and leaks nothing.

One secure broker (tests/secure_broker.py: SCRAM-SHA-256 over TLS from a test CA, StandardAuthorizer)
serves the whole module.
"""
from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

import secure_broker

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def secure(tmp_path_factory) -> secure_broker.SecureBroker:
    broker = secure_broker.start(tmp_path_factory.mktemp("secure-kafka"))
    try:
        yield broker
    finally:
        secure_broker.stop(broker)


def records_for(partitions: int, per_partition: int) -> list[tuple[int, bytes, bytes]]:
    """(partition, key, value) with a value that cannot be mistaken for another record's."""
    return [(p, f"k{i}".encode(), f"p{p}-v{i}".encode()) for p in range(partitions) for i in range(per_partition)]


def secure_topic(secure: secure_broker.SecureBroker, records: list[tuple[int, bytes, bytes]],
                 partitions: int) -> str:
    """A topic on the secure broker filled through the admin-only plaintext listener."""
    name = f"sec-{uuid.uuid4().hex[:8]}"
    admin = secure.admin()
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        meta = admin.list_topics(name, timeout=5).topics[name]
        if meta.error is None and len(meta.partitions) == partitions and all(
                p.leader >= 0 for p in meta.partitions.values()):
            break
        time.sleep(0.1)
    producer = Producer({"bootstrap.servers": secure.plaintext, "linger.ms": 5})
    for partition, key, value in records:
        producer.produce(name, key=key, value=value, partition=partition)
    assert producer.flush(30) == 0
    return name


def read_all(config: dict, topic: str, partitions: int, expected: int, timeout: float = 20) -> list:
    """Read a topic the way evkit does (assign(), no commits) until `expected` messages or an error."""
    consumer = Consumer({**config, "group.id": f"evkit-test-{uuid.uuid4().hex}", "enable.auto.commit": False,
                         "enable.auto.offset.store": False, "auto.offset.reset": "error"})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got, errors = [], []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < expected and not errors and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=1):
                (errors if msg.error() else got).append(msg.error() or (msg.partition(), msg.key(), msg.value()))
    finally:
        consumer.close()
    return errors or got


def test_the_analyst_reads_with_assign_but_cannot_write(secure):
    records = records_for(2, 50)
    topic = secure_topic(secure, records, partitions=2)

    assert sorted(read_all(secure.client_config("analyst"), topic, 2, len(records))) == sorted(records)

    refusals = []
    producer = Producer(secure.client_config("analyst"))
    producer.produce(topic, value=b"must not land", on_delivery=lambda err, msg: refusals.append(err))
    assert producer.flush(30) == 0
    assert [err.code() for err in refusals] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]


def test_the_outsider_cannot_read(secure):
    topic = secure_topic(secure, records_for(1, 5), partitions=1)
    errors = read_all(secure.client_config("outsider"), topic, 1, 5)
    assert [err.code() for err in errors] == [KafkaError.TOPIC_AUTHORIZATION_FAILED]
