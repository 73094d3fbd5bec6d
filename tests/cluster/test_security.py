"""evkit works with exactly a read-only analyst's permissions on a SASL_SSL cluster, and leaks nothing.

One secure broker (tests/secure_broker.py: SCRAM-SHA-256 over TLS from a test CA, StandardAuthorizer)
serves the whole module.
"""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from support import secure_broker
from support import REPO
from support.dumping import all_bytes_under, dataset_rows, only_manifest

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


# --- evkit dump as the analyst --------------------------------------------------------------------------------


def properties_file(path, config: dict) -> str:
    """A -F file holding the connection settings (and so the password) outside the dataset."""
    path.write_text("".join(f"{k}={v}\n" for k, v in config.items() if k != "bootstrap.servers"))
    return str(path)


def evkit_dump(secure, user_config: dict, tmp_path, topic: str, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "evkit.cli", "dump", "--bootstrap", secure.secure, "--out",
               str(tmp_path / "ds"), "--topic", topic, "-F", properties_file(tmp_path / "client.properties",
                                                                           user_config), *extra]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


# The analyst's whole path (dump, check, report) on the default (native) reader only: `evkit report`
# costs most of it and reads no Kafka; the SASL_SSL dump on the Python reader is
# test_topic_read_alone_is_enough_to_dump's.
@pytest.mark.parametrize("reader", ["native"], indirect=True)
def test_the_analyst_dumps_a_range_completely_and_leaves_no_trace(secure, tmp_path, reader):
    records = records_for(2, 500)
    topic = secure_topic(secure, records, partitions=2)
    dumped = evkit_dump(secure, secure.client_config("analyst"), tmp_path, topic, "--start", "50", "--end", "450")
    assert dumped.returncode == 0, dumped.stderr

    rows = dataset_rows(tmp_path / "ds", columns=["partition", "offset", "key", "value"])
    assert [(r["partition"], r["offset"], r["key"], r["value"]) for r in rows] == [
        (p, i, f"k{i}".encode(), f"p{p}-v{i}".encode()) for p in range(2) for i in range(50, 450)]
    manifest = only_manifest(tmp_path / "ds")
    assert manifest["status"] == "complete"
    assert manifest["client_config"]["sasl.password"] == "[redacted]"
    assert manifest["client_config"]["sasl.username"] == "analyst"
    assert [(p["start"], p["end"], p["complete"]) for p in manifest["partitions"]] == [(50, 450, True)] * 2

    checked = subprocess.run([sys.executable, "-m", "evkit.cli", "check", str(tmp_path / "ds"), "--format", "json",
                              "--quiet"], capture_output=True, text=True, timeout=120)
    assert checked.returncode in (0, 1), checked.stderr
    reported = subprocess.run([sys.executable, "-m", "evkit.cli", "report", str(REPO / "notebooks" /
                               "duplicates_and_gaps.ipynb"), "-p", f"dataset={tmp_path / 'ds'}", "--out",
                               str(tmp_path / "report"), "--quiet"], capture_output=True, text=True, timeout=300)
    assert reported.returncode in (0, 1), reported.stderr
    password = secure.passwords["analyst"].encode()
    for tree in ("ds", "report"):
        written = all_bytes_under(tmp_path / tree)
        assert written and password not in written
    for output in (dumped, checked, reported):
        assert password.decode() not in output.stdout + output.stderr

    # Read-only: no consumer group exists and nothing was ever written to __consumer_offsets.
    admin = secure.admin()
    assert admin.list_consumer_groups(request_timeout=30).result().valid == []
    offsets_topic = admin.list_topics("__consumer_offsets", timeout=10).topics["__consumer_offsets"]
    consumer = Consumer({"bootstrap.servers": secure.plaintext, "group.id": "evkit-test-inspect"})
    try:
        highs = [consumer.get_watermark_offsets(TopicPartition("__consumer_offsets", p), timeout=10)[1]
                 for p in offsets_topic.partitions]
    finally:
        consumer.close()
    assert highs == [0] * len(offsets_topic.partitions)


@pytest.mark.usefixtures("reader")
def test_topic_read_alone_is_enough_to_dump(secure, tmp_path):
    topic = secure_topic(secure, records_for(2, 20), partitions=2)
    dumped = evkit_dump(secure, secure.client_config("minimal"), tmp_path, topic, "--quiet")
    assert (dumped.returncode, dumped.stderr) == (0, "")
    assert len(dataset_rows(tmp_path / "ds", columns=["offset"])) == 40
    manifest = only_manifest(tmp_path / "ds")
    assert manifest["topics"][topic] == {"partition_count": 2, "configs": None}  # no DESCRIBE_CONFIGS


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.splitlines()
    return line


def test_a_principal_without_topic_read_gets_one_line_naming_the_permission(secure, tmp_path):
    topic = secure_topic(secure, records_for(1, 5), partitions=1)
    line = one_error_line(evkit_dump(secure, secure.client_config("outsider"), tmp_path, topic, "--quiet"))
    assert line == (f"evkit: error: not authorised to read {topic}[0]: "
                    f"the principal needs the Topic READ ACL on {topic}")
    assert not list((tmp_path / "ds").rglob("*.parquet"))


def test_a_wrong_password_gets_one_line_and_leaks_neither_password(secure, tmp_path):
    topic = secure_topic(secure, records_for(1, 5), partitions=1)
    wrong = "pw-wrong-" + secure.passwords["analyst"][::-1]
    line = one_error_line(evkit_dump(secure, secure.client_config("analyst", password=wrong), tmp_path, topic,
                                     "--quiet"))
    assert line.startswith("evkit: error: authentication failed: ")
    assert "SCRAM-SHA-256" in line
    assert wrong not in line and secure.passwords["analyst"] not in line


def test_an_untrusted_certificate_gets_one_line(secure, tmp_path):
    topic = secure_topic(secure, records_for(1, 5), partitions=1)
    line = one_error_line(evkit_dump(secure, secure.client_config("analyst", ca=secure.rogue_ca), tmp_path, topic,
                                     "--quiet"))
    assert line.startswith("evkit: error: TLS handshake failed: ")
    assert "certificate verify failed" in line
