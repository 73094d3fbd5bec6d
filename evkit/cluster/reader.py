"""The consume loop of a dump: librdkafka batches become Arrow tables, written to per-partition files.

Two readers fetch those tables: the Python reader (confluent-kafka, one Python object per message)
and the native one (evkit/cluster/native.py, Arrow buffers filled in C); everything after the fetch
is this module's, shared, so both write the same datasets. `evkit dump --reader` chooses.
"""
from __future__ import annotations

import os
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import Message, TopicPartition

from ..errors import BrokerUnreachable, OffsetOutOfRange, UsageError
from ..schemas.wire import merge_ids, schema_ids
from ..store.manifest import CommittedFile
from ..share.mask import MASKED_SCHEMA, Masker
from ..store.records import RECORD_SCHEMA, record_table
from ..store.writer import QueuedFile, WriteQueue
from .connection import Connection, describe_error

READERS = ("native", "python")
# For tests: a reading process stops itself (SIGSTOP) once it has committed this many files, so that a
# test kills a dump (or stops the broker) at an exact commit point instead of racing the dump.
STOP_AFTER_FILES = "EVKIT_TEST_STOP_AFTER_FILES"


@dataclass
class ReadTask:
    """One partition's share of a dump: the offset intervals to read, in order."""

    topic: str
    partition: int
    read: list[list[int]]


@dataclass
class ReadOptions:
    run_id: str
    file_size: int
    batch_size: int
    max_rate: float | None  # MB/s for this reader
    timeout: float
    reader: str = "python"  # "native" or "python" (choose_reader)
    mask: dict | None = None  # Masker.to_options(): masking before anything is written (evkit/share/mask.py)


class _PartitionState:
    """Reading progress of one partition: the intervals still to read and the open file."""

    def __init__(self, task: ReadTask, remaining: list[list[int]]):
        self.task = task
        self.remaining = remaining
        self.writer: QueuedFile | None = None
        self.schema_ids: dict[str, dict[str, int]] = {}  # of the open file
        self.tp = TopicPartition(task.topic, task.partition)

    @property
    def interval_end(self) -> int:
        return self.remaining[0][1]

    @property
    def done(self) -> bool:
        return not self.remaining


class PartitionReader:
    """Reads the tasks' intervals into files in `out`, committing a file per interval (and whenever a
    file reaches `file_size`) and handing what each holds to `on_commit`.

    The files are written by a writer thread (store.writer.WriteQueue): this thread only fetches and
    routes batches, so Parquet encoding, zstd, the checksum and fsync overlap the fetch.
    """

    def __init__(self, conn: Connection, out: Path, tasks: list[ReadTask], options: ReadOptions, progress,
                 on_commit: Callable[[CommittedFile], None]):
        self.conn, self.out, self.options = conn, out, options
        self.consumer = open_source(conn, options.reader)
        self.progress, self.on_commit = progress, on_commit
        self.states = {(t.topic, t.partition): _PartitionState(t, [list(i) for i in t.read]) for t in tasks}
        self.bytes = 0
        self.masker = Masker.from_options(options.mask) if options.mask else None
        self.schema = MASKED_SCHEMA if self.masker else RECORD_SCHEMA
        self.files = WriteQueue()
        self.delivered = 0  # files handed to on_commit
        self._stop_after = int(os.environ[STOP_AFTER_FILES]) if os.environ.get(STOP_AFTER_FILES) else None
        self._schema_ids: deque[dict[str, dict[str, int]]] = deque()  # of the files queued for commit, in order

    def remaining_offsets(self) -> int:
        return sum(e - s for st in self.states.values() for s, e in st.remaining)

    def run(self) -> None:
        active = [s for s in self.states.values() if not s.done]
        if not active:
            return
        self._stop_for_tests()
        self.consumer.assign([TopicPartition(s.task.topic, s.task.partition, s.remaining[0][0]) for s in active])
        max_rate_bytes = self.options.max_rate * 1e6 if self.options.max_rate else None
        started = last_progress = time.monotonic()
        while any(not s.done for s in self.states.values()):
            count, *consumed = self.consumer.consume_tables(self.options.batch_size, timeout=0.5)
            if count and self._handle(*consumed):
                last_progress = time.monotonic()
            if count < self.options.batch_size and self._check_positions():
                last_progress = time.monotonic()
            self._deliver(self.files.take_committed())
            self.consumer.raise_for_errors()
            waited = time.monotonic() - last_progress
            if waited > self.options.timeout:
                raise BrokerUnreachable(
                    f"no progress for {self.options.timeout:g}s (broker unreachable or partition stalled); "
                    "the committed part is kept: re-run the same command to resume"
                )
            if waited > 5:
                self.progress.status(f"waiting for the broker ({waited:.0f}s of {self.options.timeout:.0f}s)")
            if max_rate_bytes:
                ahead = self.bytes / max_rate_bytes - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
        self._deliver(self.files.close())

    def _handle(self, tables: list, eofs: list, errors_: list) -> bool:
        """Route one consumed batch (per-partition tables, partition EOFs, message errors); True if
        any partition moved forward.

        A partition-EOF event follows its partition's last messages in the batch, so it is acted on
        only after the batch's records are written.
        """
        for err, topic, partition in errors_:
            self._raise_message_error(err, topic, partition)
        moved = False
        for key, part in tables:
            state = self.states.get(key)
            if state is not None and not state.done:
                moved |= self._write(state, part)
        for topic, partition, offset in eofs:
            state = self.states.get((topic, partition))
            if state and not state.done and offset >= state.interval_end:
                self._finish_interval(state)
                moved = True
        return moved

    def _write(self, state: _PartitionState, part: pa.Table) -> bool:
        end, cursor = state.interval_end, state.remaining[0][0]
        offsets = part.column("offset")
        if pc.max(offsets).as_py() >= end or pc.min(offsets).as_py() < cursor:
            # past the interval's end, or re-delivered after a seek: each offset is written once
            part = part.filter(pc.and_(pc.less(offsets, end), pc.greater_equal(offsets, cursor)))
            if part.num_rows == 0:
                return False
        last = part.column("offset")[-1].as_py()
        if state.writer is None:
            state.writer = self._open(state, cursor)
        self.files.write(state.writer, self.masker.apply(part) if self.masker else part)
        merge_ids(state.schema_ids, schema_ids(part))  # before masking: ids are not secrets
        data_bytes = (pc.sum(part.column("value_size")).as_py() or 0) + (pc.sum(part.column("key_size")).as_py() or 0)
        self.bytes += data_bytes
        self.progress.update(last + 1 - cursor, records=part.num_rows, data_bytes=data_bytes)
        state.remaining[0][0] = last + 1
        if last + 1 >= end:
            self._finish_interval(state)
        elif state.writer.data_bytes >= self.options.file_size:
            self._commit(state, last + 1)
        return True

    def _check_positions(self) -> bool:
        """Finish partitions whose consumer position passed their end (hidden markers at the tail)."""
        pending = [s for s in self.states.values() if not s.done]
        if not pending:
            return False
        moved = False
        for tp in self.consumer.position([s.tp for s in pending]):
            state = self.states[(tp.topic, tp.partition)]
            if tp.offset >= 0 and not state.done and tp.offset >= state.interval_end:
                self._finish_interval(state)
                moved = True
        return moved

    def _finish_interval(self, state: _PartitionState) -> None:
        """The current interval is read (or skipped) to its end: commit its last file, go to the next."""
        start, end = state.remaining.pop(0)
        self.progress.update(end - start, records=0, data_bytes=0)
        if state.writer is None:  # nothing delivered in the rest of the interval: an empty file covers it
            state.writer = self._open(state, start)
        self._commit(state, end)
        if state.remaining:
            self.consumer.seek(TopicPartition(state.task.topic, state.task.partition, state.remaining[0][0]))
        else:
            self.consumer.pause([state.tp])

    def _open(self, state: _PartitionState, start: int) -> QueuedFile:
        return self.files.open(self.out, state.task.topic, state.task.partition, start, run_id=self.options.run_id,
                               schema=self.schema)

    def _commit(self, state: _PartitionState, end: int) -> None:
        self.files.commit(state.writer, end)
        self._schema_ids.append(state.schema_ids)
        state.writer, state.schema_ids = None, {}

    def _deliver(self, committed: list[CommittedFile]) -> None:
        """Hand the files the writer thread committed (in commit order) to `on_commit`."""
        for item in committed:
            item.schema_ids = self._schema_ids.popleft()
            self.on_commit(item)
            self.delivered += 1
            self._stop_for_tests()

    def _stop_for_tests(self) -> None:
        """Stop this process once STOP_AFTER_FILES files are committed (once; SIGCONT goes on)."""
        if self._stop_after is not None and self.delivered >= self._stop_after:
            self._stop_after = None
            os.kill(os.getpid(), signal.SIGSTOP)

    def _raise_message_error(self, err: RdKafkaError, topic: str, partition: int) -> None:
        if err.code() in (RdKafkaError._AUTO_OFFSET_RESET, RdKafkaError.OFFSET_OUT_OF_RANGE):
            raise OffsetOutOfRange(
                f"{topic}[{partition}]: offsets were deleted while the dump was reading them "
                f"({err.str()}); the committed part is kept"
            )
        if err.code() == RdKafkaError.GROUP_AUTHORIZATION_FAILED:
            return  # the coordinator lookup of the throwaway group; a dump never uses the group
        raise describe_error(err, topic, partition, "read")

    def abort(self) -> None:
        """Let the writer finish the files already complete (they are handed to `on_commit`, so a failed
        run lists them) and drop the open ones; committed files stay for the resume."""
        self._deliver(self.files.abort())
        for state in self.states.values():
            state.writer = None

    def close(self) -> None:
        """Close the reader's own consumer (the native one; the Python reader's is the connection's)."""
        self.consumer.close()


def choose_reader(reader: str | None) -> str:
    """The reader a dump uses: `reader` ("native" or "python"), else $EVKIT_READER, else native where it
    is built (a C compiler at install time) and python elsewhere."""
    from .native import native_module

    chosen = reader or os.environ.get("EVKIT_READER") or ("native" if native_module() else "python")
    if chosen not in READERS:
        raise UsageError(f"--reader must be one of {', '.join(READERS)}, not {chosen!r}")
    if chosen == "native" and native_module() is None:
        raise UsageError("--reader native: the native reader is not built here (it needs a C compiler when "
                         "evkit is installed: pip install again with gcc); use --reader python")
    return chosen


def open_source(conn: Connection, reader: str):
    """What the consume loop fetches from: the native consumer, or the connection's confluent-kafka one."""
    if reader == "native":
        from .native import NativeSource

        return NativeSource(conn)
    return PythonSource(conn)


class PythonSource:
    """The Python reader: confluent-kafka's Consumer (the connection's), one `Message` per record,
    each field of a batch pulled with one C-level map and turned into Arrow columns."""

    name = "python"

    def __init__(self, conn: Connection):
        self.conn, self.consumer = conn, conn.consumer
        self.assign, self.seek, self.pause, self.position = (
            self.consumer.assign, self.consumer.seek, self.consumer.pause, self.consumer.position)

    def consume_tables(self, max_records: int, timeout: float):
        """(count, [((topic, partition), table)], [(topic, partition, eof offset)], [(error, topic, partition)])."""
        messages = self.consumer.consume(max_records, timeout=timeout)
        errors_ = list(map(Message.error, messages))
        eofs, failures = [], []
        if any(err is not None for err in errors_):
            data = []
            for msg, err in zip(messages, errors_):
                if err is None:
                    data.append(msg)
                elif err.code() == RdKafkaError._PARTITION_EOF:
                    eofs.append((msg.topic(), msg.partition(), msg.offset()))
                else:
                    failures.append((err, msg.topic(), msg.partition()))
            messages = data
        tables = list(split_by_partition(messages_table(messages))) if messages else []
        return len(messages) + len(eofs) + len(failures), tables, eofs, failures

    def raise_for_errors(self) -> None:
        self.conn.raise_for_errors()

    def close(self) -> None:
        """The connection closes its consumer."""


def messages_table(messages: list) -> pa.Table:
    """Turn a batch of consumed messages into a RECORD_SCHEMA table, column by column.

    Each field is pulled out with one C-level map over the batch; everything after that is Arrow.
    """
    stamps = list(map(Message.timestamp, messages))
    kinds, times = zip(*stamps) if stamps else ((), ())
    kind_array = pa.array(kinds, pa.int8())
    # librdkafka timestamp types: 0 = not available, 1 = CreateTime, 2 = LogAppendTime
    timestamp_types = pa.array([None, "create", "log_append"], pa.string())
    return record_table(
        topic=list(map(Message.topic, messages)), partition=list(map(Message.partition, messages)),
        offset=list(map(Message.offset, messages)),
        timestamp=pc.if_else(pc.equal(kind_array, 0), None, pa.array(times, pa.int64())).cast(pa.timestamp("ms", tz="UTC")),
        timestamp_type=pc.take(timestamp_types, kind_array), key=list(map(Message.key, messages)),
        value=list(map(Message.value, messages)), headers=list(map(Message.headers, messages)),
        leader_epoch=list(map(Message.leader_epoch, messages)),
    )


def split_by_partition(table: pa.Table):
    """Yield ((topic, partition), rows) for each partition in a batch table, rows in batch order."""
    topics, partitions = table.column("topic"), table.column("partition")
    first = (topics[0].as_py(), partitions[0].as_py())
    if pc.all(pc.equal(partitions, first[1])).as_py() and pc.all(pc.equal(topics, first[0])).as_py():
        yield first, table
        return
    pairs = pa.Table.from_arrays([topics, partitions], names=["topic", "partition"]).group_by(
        ["topic", "partition"]).aggregate([]).to_pylist()
    for pair in pairs:
        mask = pc.and_(pc.equal(topics, pair["topic"]), pc.equal(partitions, pair["partition"]))
        yield (pair["topic"], pair["partition"]), table.filter(mask)

