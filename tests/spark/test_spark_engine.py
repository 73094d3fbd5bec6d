"""`evkit dump --engine spark`: Spark 4.2's Kafka source on local[2] against the real broker writes
the dataset the local engine writes: row for row, and the manifest equal but for the engine fields.
One shared Spark session (conftest.py); each test is one or two small Spark jobs."""
from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Producer

import evkit
from evkit.cli import main
from evkit.cluster.spark import java_client_options
from evkit.errors import ClusterError, DatasetError, UsageError
from evkit.store.layout import data_files, write_identity
from evkit.store.manifest import read_manifests, write_manifest
from support.dumping import dataset_rows, produce, wait_for_compaction
from support.engines import comparable

pytestmark = pytest.mark.broker

BASE_TS = (int(time.time()) - 3600) * 1000


def transactions(bootstrap: str, topic: str) -> None:
    """On both partitions: committed(3) aborted(2) committed(1) aborted(1): offsets 0-2, marker 3,
    aborted 4-5, marker 6, 7, marker 8, aborted 9, marker 10."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for values, commit in (([b"c0", b"c1", b"c2"], True), ([b"a0", b"a1"], False), ([b"c3"], True), ([b"a2"], False)):
        producer.begin_transaction()
        for value in values:
            for partition in (0, 1):
                producer.produce(topic, key=b"k", value=value, partition=partition)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)


@pytest.fixture(scope="module")
def topics(bootstrap, admin) -> dict[str, str]:
    """A plain topic (headers, null and empty keys and values, tombstones), a transactional one with
    aborted transactions, and a compacted one the log cleaner has compacted."""
    from conftest import wait_for_leaders
    from confluent_kafka.admin import NewTopic
    import uuid

    names = {kind: f"spark-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("plain", "tx", "compacted")}
    configs = {"compacted": {"cleanup.policy": "compact", "segment.ms": "100", "min.cleanable.dirty.ratio": "0.01",
                             "delete.retention.ms": "0"}}
    futures = admin.create_topics([NewTopic(name, 1 if kind == "compacted" else 2, 1, config=configs.get(kind, {}))
                                   for kind, name in names.items()], operation_timeout=30)
    for kind, name in names.items():
        futures[name].result(30)
        wait_for_leaders(admin, name, 1 if kind == "compacted" else 2)
    produce(bootstrap, names["plain"], [
        {"key": None if i % 7 == 0 else b"" if i % 11 == 0 else f"k{i}".encode(),
         "value": None if i % 13 == 0 else b"" if i % 5 == 0 else bytes(range(1, i)), "partition": i % 2,
         "timestamp": BASE_TS + i, "headers": [("dup", b"1"), ("dup", b"2"), ("nul", None), ("e", b"")] if i % 3 == 0
         else None} for i in range(60)])
    transactions(bootstrap, names["tx"])
    produce(bootstrap, names["compacted"], [{"key": f"k{i % 4}".encode(), "value": f"v{i}".encode()} for i in range(40)])
    wait_for_compaction(bootstrap, names["compacted"])
    return names


def local_rows(root) -> list[dict]:
    """Rows as the Spark engine writes them: Spark's Kafka source has no leader epoch (null, and said so)."""
    return [{**row, "leader_epoch": None} for row in dataset_rows(root)]


@pytest.mark.parametrize("isolation", ["read_committed", "read_uncommitted"])
def test_spark_writes_the_local_engines_dataset_row_for_row(spark, bootstrap, topics, tmp_path, isolation):
    names = list(topics.values())
    local = evkit.dump(bootstrap=bootstrap, out=tmp_path / "local", topics=names, isolation=isolation,
                       quiet=True).to_json()
    spark_dump = evkit.dump(bootstrap=bootstrap, out=tmp_path / "spark", topics=names, isolation=isolation,
                            engine="spark", quiet=True).to_json()

    assert dataset_rows(tmp_path / "spark") == local_rows(tmp_path / "local")
    assert comparable(spark_dump) == comparable(local)
    assert spark_dump["tool"]["engine"] == "spark" and spark_dump["tool"]["spark"] == "4.2.0"
    assert spark_dump["tool"]["notes"] == ["leader_epoch is null: Spark's Kafka source does not deliver it"]
    tx = {p["partition"]: p["skipped"] for p in spark_dump["partitions"] if p["topic"] == topics["tx"]}
    assert tx == {n: [[3, 7], [8, 11]] if isolation == "read_committed" else [[3, 4], [6, 7], [8, 9], [10, 11]]
                  for n in (0, 1)}  # markers and (read_committed) the aborted records, found from the offsets
    (compacted,) = [p for p in spark_dump["partitions"] if p["topic"] == topics["compacted"]]
    assert compacted["skipped"] and compacted["records"] < compacted["end"]
    with evkit.open(tmp_path / "spark", quiet=True) as ds:  # verified like any dataset
        kinds = {c for (c,) in ds.offset_gaps().project("classification").fetchall()}
    assert "compaction" in kinds and ("transaction_aborted" in kinds) == (isolation == "read_committed")


def test_a_resumed_spark_dump_reads_only_the_missing_ranges(spark, bootstrap, topics, tmp_path):
    out = tmp_path / "ds"
    small_batches = {"spark.sql.execution.arrow.maxRecordsPerBatch": "10"}  # a runtime setting of the session
    evkit.dump(bootstrap=bootstrap, out=out, topics=[topics["plain"]], engine="spark", quiet=True, file_size=1,
               spark_conf=small_batches)  # files roll after every Arrow batch: 3 per partition
    before = {p.name: p.read_bytes() for p in data_files(out)}
    (manifest,) = read_manifests(out)
    middle = manifest.partitions[0].files[1], manifest.partitions[1].files[0]
    for entry in middle:  # as if killed before these files were committed
        (out / entry.path).unlink()
    manifest.status = "interrupted"
    write_manifest(out, manifest)

    resumed = evkit.dump(bootstrap=bootstrap, out=out, topics=[topics["plain"]], engine="spark", quiet=True,
                         file_size=1, spark_conf=small_batches)
    assert resumed.run_id == manifest.run_id and resumed.status == "complete"
    assert [(p.records, p.complete, len(p.files)) for p in resumed.partitions] == [(30, True, 3), (30, True, 3)]
    after = {p.name: p for p in data_files(out)}
    assert sorted(after) == sorted(before)
    assert all(pq.read_table(after[name]).to_pylist() == pq.read_table(pa.BufferReader(data)).to_pylist()
               for name, data in before.items())  # the ranges read again hold the same rows
    with evkit.open(out, quiet=True) as ds:
        assert ds.records.count("*").fetchall() == [(60,)]
    spark.conf.unset("spark.sql.execution.arrow.maxRecordsPerBatch")


def test_a_spark_dump_to_s3_opens_and_checks_like_a_local_one(spark, bootstrap, topics, s3_url, tmp_path, capsys):
    assert main(["dump", "-b", bootstrap, "-o", s3_url, "-t", topics["tx"], "--engine", "spark",
                 "--spark-conf", "spark.sql.session.timeZone=Asia/Tokyo", "-q"]) == 0
    local = evkit.dump(bootstrap=bootstrap, out=tmp_path / "local", topics=[topics["tx"]], quiet=True)
    remote = read_manifests(s3_url)[0]
    assert comparable(remote.to_json()) == comparable(local.to_json())
    with evkit.open(s3_url, verify="full") as ds:
        assert ds.records.project('partition, "offset", value').order('partition, "offset"').fetchall() == [
            (p, o, v) for p in (0, 1) for o, v in ((0, b"c0"), (1, b"c1"), (2, b"c2"), (7, b"c3"))]
    capsys.readouterr()
    code = main(["check", s3_url, "-q", "--format", "json"])
    from_s3 = capsys.readouterr().out
    assert main(["check", str(tmp_path / "local"), "-q", "--format", "json"]) == code
    assert from_s3 == capsys.readouterr().out  # leader epochs aside, the same records: the same findings


def files_and_listing(out) -> tuple[dict[str, tuple[int, int]], set[str]]:
    """Every committed data file (inode, mtime) and the files the dataset's run manifest lists."""
    on_disk = {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns) for p in data_files(out)}
    return on_disk, {f.path for m in read_manifests(out) for p in m.partitions for f in p.files}


def test_a_failing_spark_job_is_one_line_leaves_nothing_that_looks_complete_and_resumes(
        spark, spark_stderr, bootstrap, admin, make_topic, tmp_path, capsys):
    """Which partition's task finished before the other failed is Spark's timing; either way the
    failed run lists exactly the files on disk, and the rerun leaves them untouched."""
    from confluent_kafka import TopicPartition

    topic = make_topic(partitions=2, prefix="spark-fail")
    produce(bootstrap, topic, [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % 2}
                               for i in range(40)])

    def delete_the_start_of_partition_1(plans, resumed):  # after the plan, before Spark reads: retention
        (future,) = admin.delete_records([TopicPartition(topic, 1, 5)]).values()
        future.result(30)

    printed = spark_stderr.stat().st_size
    with pytest.raises(ClusterError) as failed:  # Kafka no longer holds part of the range
        evkit.dump(bootstrap=bootstrap, out=tmp_path / "lost", topics=[topic], engine="spark", quiet=True,
                   on_plan=delete_the_start_of_partition_1)
    assert str(failed.value) == (f"the Spark job failed: offset 0 of {topic}[1] was deleted (retention or "
                                 "delete-records) after the plan was made; the committed part is kept: "
                                 "dump that partition from a later --start")
    on_disk, listed = files_and_listing(tmp_path / "lost")
    assert set(on_disk) == listed and read_manifests(tmp_path / "lost")[0].status == "failed"

    out = tmp_path / "ds"  # a task cannot write (its partition's directory is a file): then it can
    (out / f"topic={topic}").mkdir(parents=True)
    write_identity(out, admin.list_topics(timeout=30).cluster_id)  # a dataset of this cluster, no run yet
    (out / f"topic={topic}" / "partition=1").write_text("in the way")
    assert main(["dump", "-b", bootstrap, "-o", str(out), "-t", topic, "--engine", "spark", "-q"]) == 2
    assert capsys.readouterr().err == (
        f"evkit: error: the Spark job failed: FileExistsError: [Errno 17] File exists: '{out}/topic={topic}/partition=1'"
        "; the committed part is kept: re-run the same command to resume\n")
    assert spark_stderr.read_bytes()[printed:] == b""  # no Java (or Python) stack trace from Spark either
    on_disk, listed = files_and_listing(out)
    assert set(on_disk) == listed and read_manifests(out)[0].status == "failed"
    with pytest.raises(DatasetError, match="is failed, not complete"):
        evkit.open(out)

    (out / f"topic={topic}" / "partition=1").unlink()
    assert main(["dump", "-b", bootstrap, "-o", str(out), "-t", topic, "--engine", "spark", "-q"]) == 0
    after, _ = files_and_listing(out)
    assert {path: after[path] for path in on_disk} == on_disk  # the committed files were not written again
    local = evkit.dump(bootstrap=bootstrap, out=tmp_path / "local", topics=[topic], quiet=True)
    assert dataset_rows(out) == local_rows(tmp_path / "local") and len(dataset_rows(out)) == 35
    assert read_manifests(out)[0].status == "complete" and local.status == "complete"


def test_librdkafka_security_options_become_the_java_clients(tmp_path):
    (tmp_path / "cert.pem").write_text("CERT")
    (tmp_path / "key.pem").write_text("KEY")
    assert java_client_options({
        "bootstrap.servers": "b:9093", "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "ana", "sasl.password": 'p"w', "ssl.ca.location": "/etc/ca.pem",
        "ssl.certificate.location": str(tmp_path / "cert.pem"), "ssl.key.location": str(tmp_path / "key.pem"),
        "ssl.key.password": "kp", "ssl.endpoint.identification.algorithm": "none", "group.id": "team-evkit",
        "enable.auto.commit": "false", "fetch.message.max.bytes": "1048576", "schema.registry.url": "http://r",
    }) == {
        "kafka.bootstrap.servers": "b:9093", "groupIdPrefix": "team-evkit", "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                                  'username="ana" password="p\\"w";',
        "kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": "/etc/ca.pem",
        "kafka.ssl.keystore.type": "PEM", "kafka.ssl.keystore.certificate.chain": "CERT",
        "kafka.ssl.keystore.key": "KEY", "kafka.ssl.endpoint.identification.algorithm": "",
        "kafka.security.protocol": "SASL_SSL", "kafka.ssl.key.password": "kp",
    }
    with pytest.raises(UsageError, match="-X sasl.oauthbearer.config has no counterpart in the Java Kafka client"):
        java_client_options({"bootstrap.servers": "b:9092", "sasl.oauthbearer.config": "x"})


def test_engine_usage_errors_are_one_line(bootstrap, tmp_path, capsys):
    with pytest.raises(UsageError, match="^--engine must be one of local, spark, not 'flink'$"):
        evkit.dump(bootstrap=bootstrap, out=tmp_path / "x", topics=["t"], engine="flink")
    for args, message in (
        (["--spark-master", "local[1]"], "--spark-master and --spark-conf need --engine spark"),
        (["--engine", "spark", "--workers", "2"], "--workers, --max-rate and --mask are for the local engine"),
        (["--engine", "spark", "--spark-conf", "novalue"], "--spark-conf 'novalue': expected key=value"),
    ):
        assert main(["dump", "-b", bootstrap, "-o", str(tmp_path / "x"), "-t", "t", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"evkit: error: {message}") and err.count("\n") == 1, err
    assert not (tmp_path / "x").exists()
