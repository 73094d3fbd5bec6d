"""The Spark engine of `evkit dump` (`--engine spark`): Spark's Kafka source reads the plan's ranges,
evkit's own writer writes them.

evkit resolves the plan as for the local engine (per partition: [start, end), the end fixed at the
HWM/LSO when the dump starts) and hands Spark a batch read of exactly those offsets
(`startingOffsets`/`endingOffsets` per partition, `kafka.isolation.level`, `includeHeaders`). Each
Spark task receives one Kafka partition's range in offset order and writes it, in `mapInArrow`, with
`store.writer.PartitionFileWriter`: the same files, schema and Parquet metadata as the local engine,
by construction, and the offsets Kafka skipped found from the written offsets. The tasks return what
they committed; the driver writes the manifest (`dumper.py`). A range several intervals long (a
resumed dump) is read in rounds, one Spark read per round of intervals, unioned into one job.

Spark's Kafka source does not deliver the leader epoch: those rows hold null (`tool.notes`).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from .._progress import Progress
from ..errors import ClusterError, UsageError
from ..schemas.wire import merge_ids, schema_ids
from ..store.fs import ObjectPath, as_path, to_uri
from ..store.manifest import CommittedFile
from ..store.records import HEADER_TYPE, RECORD_SCHEMA, record_table
from ..store.writer import PartitionFileWriter
from .connection import is_secret
from .reader import ReadOptions, ReadTask

CONNECTOR = "org.apache.spark:spark-sql-kafka-0-10_2.13"
log = logging.getLogger("evkit.dump")
NOTES = ["leader_epoch is null: Spark's Kafka source does not deliver it"]
# Kafka's TimestampType ids as Spark's `timestampType` column carries them: 0 CreateTime, 1 LogAppendTime.
_TIMESTAMP_TYPES = pa.array(["create", "log_append"], pa.string())
# librdkafka properties whose Java client name is the same.
_SAME_NAME = {"security.protocol", "client.id", "request.timeout.ms", "socket.connection.setup.timeout.ms",
              "connections.max.idle.ms", "reconnect.backoff.ms", "reconnect.backoff.max.ms", "retry.backoff.ms",
              "client.rack", "fetch.max.bytes", "fetch.wait.max.ms", "sasl.kerberos.service.name",
              "ssl.key.password", "ssl.keystore.location", "ssl.keystore.password", "ssl.cipher.suites"}
# librdkafka properties that only tune librdkafka itself, or that evkit sets: not for the Java client.
_LIBRDKAFKA_ONLY = {"enable.auto.commit", "enable.auto.offset.store", "fetch.message.max.bytes",
                    "queued.max.messages.kbytes", "queued.min.messages", "fetch.queue.backoff.ms", "debug", "log_level", "statistics.interval.ms",
                    "topic.metadata.refresh.interval.ms", "api.version.request", "broker.version.fallback"}
_LOGIN_MODULES = {"PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
                  "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule"}


def java_client_options(settings: dict[str, str]) -> dict[str, str]:
    """librdkafka properties (`-X`, `-F`) as the Kafka source's `kafka.*` options (the Java client's
    names); UsageError for one with no counterpart. `group.id` becomes Spark's `groupIdPrefix`."""
    options: dict[str, str] = {}
    rest = dict(settings)

    def take(key: str) -> str | None:
        return rest.pop(key, None)

    def file_text(key: str, path: str) -> str:
        try:
            return Path(path).read_text()
        except OSError as exc:
            raise UsageError(f"-X {key}={path}: cannot read it ({exc.strerror})") from None

    options["kafka.bootstrap.servers"] = take("bootstrap.servers")
    group = take("group.id")
    if group:
        options["groupIdPrefix"] = group
    mechanism = take("sasl.mechanism") or take("sasl.mechanisms")
    if mechanism:
        options["kafka.sasl.mechanism"] = mechanism
    username, password = take("sasl.username"), take("sasl.password")
    if username is not None or password is not None:
        module = _LOGIN_MODULES.get((mechanism or "PLAIN").upper())
        if module is None:
            raise UsageError(f"sasl.username/sasl.password with sasl.mechanism={mechanism}: give the Java client's "
                             "sasl.jaas.config instead (-X sasl.jaas.config=...)")
        quoted = [(v or "").replace("\\", "\\\\").replace('"', '\\"') for v in (username, password)]
        options["kafka.sasl.jaas.config"] = f'{module} required username="{quoted[0]}" password="{quoted[1]}";'
    if (ca := take("ssl.ca.location")) is not None:
        options |= {"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": ca}
    if (ca_pem := take("ssl.ca.pem")) is not None:
        options |= {"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.certificates": ca_pem}
    cert, key = take("ssl.certificate.location"), take("ssl.key.location")
    cert_pem, key_pem = take("ssl.certificate.pem"), take("ssl.key.pem")
    if cert or key or cert_pem or key_pem:
        options["kafka.ssl.keystore.type"] = "PEM"
        options["kafka.ssl.keystore.certificate.chain"] = cert_pem or file_text("ssl.certificate.location", cert or "")
        options["kafka.ssl.keystore.key"] = key_pem or file_text("ssl.key.location", key or "")
    if (algorithm := take("ssl.endpoint.identification.algorithm")) is not None:
        options["kafka.ssl.endpoint.identification.algorithm"] = "" if algorithm.lower() == "none" else algorithm
    for name in list(rest):
        if name in _SAME_NAME or name.startswith("sasl.jaas") or name.startswith("ssl.truststore."):
            options[f"kafka.{name}"] = rest.pop(name)
        elif name in _LIBRDKAFKA_ONLY or name.startswith("schema.registry."):  # not the Kafka client's
            rest.pop(name)
    if rest:
        name = sorted(rest)[0]
        raise UsageError(f"-X {name} has no counterpart in the Java Kafka client that --engine spark uses; "
                         "give the Java client's property with --spark-conf or drop it")
    return options


def read_with_spark(settings: dict[str, str], isolation: str, out: Path | ObjectPath, tasks: list[ReadTask],
                    options: ReadOptions, *, master: str | None, conf: dict[str, str], progress: Progress,
                    on_commit: Callable[[CommittedFile], None]) -> None:
    """Read every task's intervals with one Spark job into `out`; `on_commit` gets each committed file."""
    kafka = java_client_options(settings)
    spark = spark_session(master, conf)
    busy = [t for t in tasks if t.read]
    rounds = max(len(t.read) for t in busy)
    frames = []
    for number in range(rounds):
        part = [(t, t.read[number]) for t in busy if len(t.read) > number]
        assign = {}
        starting: dict[str, dict[str, int]] = {}
        ending: dict[str, dict[str, int]] = {}
        for task, (start, end) in part:
            assign.setdefault(task.topic, []).append(task.partition)
            starting.setdefault(task.topic, {})[str(task.partition)] = start
            ending.setdefault(task.topic, {})[str(task.partition)] = end
        reader = (spark.read.format("kafka").options(**kafka)
                  .option("assign", json.dumps(assign)).option("startingOffsets", json.dumps(starting))
                  .option("endingOffsets", json.dumps(ending)).option("kafka.isolation.level", isolation)
                  .option("includeHeaders", "true").option("failOnDataLoss", "true"))
        frames.append(reader.load())
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    intervals = {(t.topic, t.partition): [list(i) for i in t.read] for t in busy}
    writer = _TaskWriter(to_uri(out), options.run_id, options.file_size, intervals)
    total = sum(e - s for t in busy for s, e in t.read)
    progress.start(total=total, unit="offsets")
    try:
        progress.status(f"Spark job: {sum(len(t.read) for t in busy)} Kafka ranges on {spark.sparkContext.master}")
        try:
            with _log_off_unless_verbose(spark):
                rows = frame.mapInArrow(writer, "committed string").collect()
        except Exception as exc:  # Py4J / captured JVM errors: one line, secrets removed
            reason, remedy = _cause(exc, settings)
            raise ClusterError(f"the Spark job failed: {reason}; the committed part is kept: {remedy}") from None
        committed = [CommittedFile.from_json(json.loads(row.committed)) for row in rows]
        done = {(c.topic, c.partition, c.entry.end) for c in committed}
        for item in committed:
            on_commit(item)
        for task in busy:  # an interval in which Kafka delivered nothing: an empty file covers it, as locally
            for start, end in task.read:
                if (task.topic, task.partition, end) not in done:
                    on_commit(PartitionFileWriter(out, task.topic, task.partition, start,
                                                  run_id=options.run_id).commit(end))
        progress.update(total, records=sum(c.entry.rows for c in committed),
                        data_bytes=sum(c.data_bytes for c in committed))
    finally:
        progress.close()


def spark_session(master: str | None, conf: dict[str, str]):
    """The active Spark session, or a new one on `master` (default: the one spark-submit set, else
    local[*]) with `conf`; Spark's Kafka source comes from Maven Central unless spark.jars(.packages) says."""
    version = spark_version()
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None and master is None:  # a notebook's or spark-submit's session: runtime settings only
        for key, value in conf.items():
            try:
                active.conf.set(key, value)
            except Exception:  # noqa: BLE001 - Spark says "cannot modify" in several exception types
                raise UsageError(f"--spark-conf {key}: cannot be changed in the running Spark session; "
                                 "set it where that session is created") from None
        return active
    builder = SparkSession.builder.appName("evkit dump")
    if master or "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit: this machine
        builder = builder.master(master or "local[*]")
    if (master or "local").startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # the workers import evkit: this interpreter
    if not {"spark.jars", "spark.jars.packages"} & set(conf):
        builder = builder.config("spark.jars.packages", f"{CONNECTOR}:{version}")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


@contextmanager
def _log_off_unless_verbose(spark) -> Iterator[None]:
    """Spark logs a failed task's Java stack trace (and the Python one inside it) on stderr at ERROR;
    evkit reports the failure as one line. So, unless evkit logs at INFO (`evkit -v`), Spark's log is
    off while the job runs, and back at its level afterwards."""
    if log.isEnabledFor(logging.INFO):
        yield
        return
    try:
        level = spark.sparkContext._jvm.org.apache.logging.log4j.LogManager.getRootLogger().getLevel().toString()
        spark.sparkContext.setLogLevel("OFF")
    except Exception:  # noqa: BLE001 - no JVM at hand (Spark Connect): its log is not on this stderr
        yield
        return
    try:
        yield
    finally:
        spark.sparkContext.setLogLevel(level)


def spark_version() -> str:
    """pyspark's version; UsageError when it is not installed."""
    try:
        import pyspark
    except ImportError:
        raise UsageError("--engine spark needs pyspark: pip install 'evkit[spark]' (Spark 4.2)") from None
    return pyspark.__version__


def parse_spark_conf(pairs: dict | list | tuple | None) -> dict[str, str]:
    """`--spark-conf key=value` pairs (or a dict) as a dict."""
    if isinstance(pairs, dict) or pairs is None:
        return {str(k): str(v) for k, v in (pairs or {}).items()}
    conf = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--spark-conf {pair!r}: expected key=value")
        conf[key] = value
    return conf


# Failures whose Java text says more than a person needs: (pattern, reason, what to do).
_KNOWN_CAUSES = [
    (re.compile(r"OffsetOutOfRangeException: Fetch position FetchPosition\{offset=(\d+),.* is out of range "
                r"for partition (\S+)-(\d+)"),
     r"offset \1 of \2[\3] was deleted (retention or delete-records) after the plan was made",
     "dump that partition from a later --start"),
]


def _cause(exc: Exception, settings: dict[str, str]) -> tuple[str, str]:
    """The innermost reason of a Spark failure, on one line, without any secret value, and what to
    do: re-run to resume, unless the reason says that cannot help."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    causes = [line for line in lines if line.startswith("Caused by:")]
    python = [line for line in lines if re.match(r"^[A-Za-z_.]+(Error|Exception): ", line)]
    reason = (causes[-1].removeprefix("Caused by:").strip() if causes else python[-1] if python
              else lines[0] if lines else type(exc).__name__)
    remedy = "re-run the same command to resume"
    for pattern, known, what_to_do in _KNOWN_CAUSES:
        if match := pattern.search(reason):
            reason, remedy = match.expand(known), what_to_do
    for key, value in settings.items():
        if is_secret(key) and value:
            reason = reason.replace(value, "[redacted]")
    return reason[:400], remedy


class _TaskWriter:
    """What each Spark task runs (`mapInArrow`): one Kafka partition's rows, in offset order, written
    into files per interval with evkit's writer, rolled at `file_size`; yields what it committed."""

    def __init__(self, out: str, run_id: str, file_size: int, intervals: dict[tuple[str, int], list[list[int]]]):
        self.out, self.run_id, self.file_size = out, run_id, file_size
        self.intervals = {f"{t}\0{p}": v for (t, p), v in intervals.items()}  # JSON-able keys travel well

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        out = as_path(self.out)
        committed: list[CommittedFile] = []
        writer, end, cursor = None, None, None  # cursor: where the next file of the interval starts
        ids: dict[str, dict[str, int]] = {}  # schema ids of the open file's records, as the local reader counts

        def commit(at: int) -> None:
            nonlocal ids
            item = (writer or self._writer(out, topic, partition, cursor)).commit(at)
            item.schema_ids, ids = ids, {}
            committed.append(item)

        try:
            for batch in batches:
                table = spark_records(batch)
                if table.num_rows == 0:
                    continue
                topic, partition = table.column("topic")[0].as_py(), table.column("partition")[0].as_py()
                first, last = table.column("offset")[0].as_py(), table.column("offset")[-1].as_py()
                if end is None:  # the task's interval (one per task), found from its first offset
                    cursor, end = next(i for i in self.intervals[f"{topic}\0{partition}"] if i[0] <= first < i[1])
                writer = writer or self._writer(out, topic, partition, cursor)
                writer.write(table)
                merge_ids(ids, schema_ids(table))
                cursor = last + 1
                if cursor < end and writer.data_bytes >= self.file_size:
                    commit(cursor)
                    writer = None
            if end is not None:
                commit(end)
                writer = None
        finally:
            if writer is not None:
                writer.abort()
        yield pa.RecordBatch.from_pydict({"committed": [json.dumps(c.to_json()) for c in committed]},
                                         schema=pa.schema([pa.field("committed", pa.string())]))

    def _writer(self, out, topic: str, partition: int, start: int) -> PartitionFileWriter:
        return PartitionFileWriter(out, topic, partition, start, run_id=self.run_id)


def spark_records(batch: pa.RecordBatch) -> pa.Table:
    """A RECORD_SCHEMA table from a batch of Spark's Kafka source (key, value, topic, partition,
    offset, timestamp, timestampType, headers): headers null -> [], timestamps to ms UTC."""
    headers = batch.column("headers").cast(HEADER_TYPE)
    headers = pc.fill_null(headers, pa.scalar([], HEADER_TYPE))
    kinds = batch.column("timestampType")
    kind_index = pc.if_else(pc.less(kinds, 0), None, kinds)
    return record_table(
        topic=batch.column("topic"), partition=batch.column("partition").cast(pa.int32()),
        offset=batch.column("offset").cast(pa.int64()),
        timestamp=batch.column("timestamp").cast(RECORD_SCHEMA.field("timestamp").type),
        timestamp_type=pc.take(_TIMESTAMP_TYPES, kind_index), key=batch.column("key"), value=batch.column("value"),
        headers=headers, leader_epoch=pa.nulls(batch.num_rows, pa.int32()),
    )
