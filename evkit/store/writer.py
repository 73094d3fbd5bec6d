"""Writing data: one partition's records streamed into a Parquet file (in the caller's thread or a
writer thread's), whole runs from memory, run ids."""
from __future__ import annotations

import hashlib
import io
import json
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import __version__
from .._text import now_ms, utc_iso, utc_now
from ..errors import DatasetError
from .files import commit_file, temp_path
from .fs import as_path
from .layout import FORMAT_VERSION, PARQUET_META_KEY, file_name, partition_dir, read_identity, write_identity
from .manifest import CommittedFile, FileEntry, Manifest, PartitionEntry, write_manifest
from .records import RECORD_SCHEMA

# Arrow bytes a WriteQueue holds before the fetching thread waits for the writer: with librdkafka's
# prefetch budget (cluster/connection.py) this bounds a dump's memory whatever the range.
WRITE_QUEUE_BYTES = 64 * 1024 * 1024
# zstd level of data files: 1 costs less CPU than 3 and, on the JSON events measured, writes files
# no larger (docs/dump.md).
ZSTD_LEVEL = 1


class _HashingFile(io.RawIOBase):
    """The temporary file a Parquet writer writes to, hashing the bytes as they go by: the checksum
    of a committed file without reading it back."""

    def __init__(self, path: Path):
        super().__init__()
        self._file = open(path, "wb")
        self.sha256 = hashlib.sha256()  # releases the GIL on large buffers, as the writes do
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self._file.write(data)

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        self._file.close()
        super().close()


class PartitionFileWriter:
    """Streams record batches of one partition into one Parquet file covering [start, end).

    The file is written under a temporary name; `commit(end)` closes it, renames it to its final
    name and returns what it holds (its manifest entry, the offsets Kafka skipped, the key + value
    bytes, the checksum), tracked while writing so that nothing is read back. `abort()` removes the
    temporary.
    """

    def __init__(self, root: Path, topic: str, partition: int, start: int, *, run_id: str,
                 compression: str = "zstd", compression_level: int | None = ZSTD_LEVEL,
                 schema: pa.Schema = RECORD_SCHEMA):
        self.root = as_path(root)
        self.topic, self.partition, self.start, self.run_id = topic, partition, start, run_id
        self.directory = partition_dir(self.root, topic, partition)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.directory / file_name(start, start))
        self.rows = 0
        self.data_bytes = 0  # Arrow bytes written, for rolling files by size
        self.key_value_bytes = 0
        self.first_offset: int | None = None
        self.next_offset = start  # one past the last offset written
        self.skipped: list[list[int]] = []
        self._file = _HashingFile(self.tmp)
        self._writer = pq.ParquetWriter(
            self._file, schema, compression=compression, compression_level=compression_level,
            write_statistics=True, use_dictionary=["topic", "timestamp_type"],
        )

    def write(self, table: pa.Table) -> None:
        """Append a table of records (in offset order, after those written so far) as one row group."""
        if table.num_rows == 0:
            return
        offsets = int64_values(table.column("offset"))
        self.skipped += offset_gaps_between(offsets, self.next_offset)
        self.first_offset = int(offsets[0]) if self.first_offset is None else self.first_offset
        self.next_offset = int(offsets[-1]) + 1
        self.rows += table.num_rows
        self.data_bytes += table.nbytes
        self.key_value_bytes += sum(pc.sum(table.column(c)).as_py() or 0 for c in ("key_size", "value_size"))
        self._writer.write_table(table, row_group_size=table.num_rows)

    def commit(self, end: int) -> CommittedFile:
        """Close the file as covering [start, end), give it its final name and say what it holds."""
        meta = {"format": FORMAT_VERSION, "run_id": self.run_id, "topic": self.topic,
                "partition": self.partition, "start": self.start, "end": end, "rows": self.rows}
        self._writer.add_key_value_metadata({PARQUET_META_KEY: json.dumps(meta).encode()})
        self._writer.close()
        self._file.close()
        final = self.directory / file_name(self.start, end)
        commit_file(self.tmp, final)  # fsync, rename, fsync the directory
        entry = FileEntry(path=final.relative_to(self.root).as_posix(), start=self.start, end=end, rows=self.rows,
                          first_offset=self.first_offset, last_offset=None if self.rows == 0 else self.next_offset - 1,
                          bytes=self._file.size, sha256=self._file.sha256.hexdigest())
        skipped = self.skipped + ([[self.next_offset, end]] if end > self.next_offset else [])
        return CommittedFile(self.topic, self.partition, entry, skipped, self.key_value_bytes)

    def abort(self) -> None:
        try:
            self._writer.close()
            self._file.close()
        finally:
            self.tmp.unlink(missing_ok=True)


class QueuedFile:
    """A file of a WriteQueue: its writer (made on the writer thread) and the Arrow bytes handed to it."""

    def __init__(self) -> None:
        self.writer: PartitionFileWriter | None = None
        self.data_bytes = 0  # Arrow bytes queued for it, for rolling files by size


class WriteQueue:
    """Runs PartitionFileWriter calls in order on one writer thread, so that zstd, the checksum and
    fsync overlap the fetch (pyarrow releases the GIL while it encodes and writes).

    At most `max_bytes` of Arrow data wait for the writer; beyond that `write` blocks, which keeps
    memory flat. Committed files come back in commit order from `take_committed()`. An error of the
    writer thread is raised there (or by `write`/`close`), and nothing is written after it: no later
    commit can give a file that missed rows its final name.
    """

    def __init__(self, *, max_bytes: int = WRITE_QUEUE_BYTES):
        self.max_bytes = max_bytes
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="evkit-writer")  # one thread: calls run in order
        self._pending: deque[tuple[Future, int, bool]] = deque()  # (call, Arrow bytes, is a commit)
        self._queued_bytes = 0
        self._committed: list[CommittedFile] = []
        self._open: set[QueuedFile] = set()
        self._failed = False  # set on the writer thread by the first failing call

    def open(self, root: Path, topic: str, partition: int, start: int, **options) -> QueuedFile:
        """A new file of `partition` from offset `start` (PartitionFileWriter's arguments)."""
        file = QueuedFile()
        self._open.add(file)

        def make() -> None:
            file.writer = PartitionFileWriter(root, topic, partition, start, **options)

        self._submit(make, 0, False)
        return file

    def write(self, file: QueuedFile, table: pa.Table) -> None:
        """Queue `table` for `file`; wait first while the queue holds more than `max_bytes`."""
        self._settle(until=self.max_bytes)
        file.data_bytes += table.nbytes
        self._submit(lambda: file.writer.write(table), table.nbytes, False)

    def commit(self, file: QueuedFile, end: int) -> None:
        """Queue the commit of `file` as covering [start, end); its CommittedFile comes from take_committed()."""

        def commit() -> CommittedFile:
            committed = file.writer.commit(end)
            self._open.discard(file)
            return committed

        self._submit(commit, 0, True)

    def take_committed(self) -> list[CommittedFile]:
        """The files committed since the last call, in commit order; raises the writer thread's error."""
        self._settle(until=None)
        committed, self._committed = self._committed, []
        return committed

    def close(self) -> list[CommittedFile]:
        """Wait for every queued call; return the files committed since take_committed()."""
        self._settle(until=0)
        self._thread.shutdown()
        return self.take_committed()

    def abort(self) -> list[CommittedFile]:
        """Finish what is queued (files already complete still commit, unless the writer failed), drop
        the files still open and stop the thread; return the files committed since take_committed()."""
        while self._pending:
            try:
                self._settle(until=0)
            except Exception:  # the writer's error was raised already, or is beside the error aborting us
                pass
        self._thread.shutdown()
        for file in self._open:
            if file.writer is not None:
                file.writer.abort()
        self._open.clear()
        committed, self._committed = self._committed, []
        return committed

    def _submit(self, call: Callable[[], object], nbytes: int, is_commit: bool) -> None:
        self._queued_bytes += nbytes
        self._pending.append((self._thread.submit(self._guarded, call), nbytes, is_commit))

    def _guarded(self, call: Callable[[], object]):
        if self._failed:
            raise RuntimeError("an earlier write failed")  # the caller gets that first error, not this
        try:
            return call()
        except BaseException:
            self._failed = True
            raise

    def _settle(self, *, until: int | None) -> None:
        """Collect finished calls in order, and wait for more while over `until` queued bytes (0: all)."""
        while self._pending and (self._pending[0][0].done() or until is not None and (
                self._queued_bytes > until or until == 0)):
            future, nbytes, is_commit = self._pending[0]
            try:
                result = future.result()
            finally:
                if future.done():  # not when a signal interrupts the wait: the call stays pending
                    self._pending.popleft()
                    self._queued_bytes -= nbytes
            if is_commit:
                self._committed.append(result)


def int64_values(column: pa.ChunkedArray) -> np.ndarray:
    """An int64 column without nulls as a numpy view of its buffer. pyarrow's `to_numpy` would import
    pandas, a fifth of a dump's start-up that nothing else on the dump's path needs."""
    array = column.combine_chunks()
    return np.frombuffer(array.buffers()[1], np.int64, len(array), array.offset * 8)


def offset_gaps_between(offsets: np.ndarray, expected: int) -> list[list[int]]:
    """The half-open gaps before and between sorted, unique `offsets`, the first expected at `expected`."""
    previous = np.concatenate(([expected - 1], offsets[:-1]))
    holes = np.nonzero(offsets - previous > 1)[0]
    return [[int(previous[i]) + 1, int(offsets[i])] for i in holes]


def write_records(
    root: Path,
    table: pa.Table,
    *,
    cluster_id: str = "synthetic",
    topic_configs: dict[str, dict[str, str]] | None = None,
    ranges: dict[tuple[str, int], tuple[int, int]] | None = None,
    partition_counts: dict[str, int] | None = None,
    request: dict | None = None,
    run_id: str | None = None,
    end_fixed_at: int | None = None,
    isolation: str | None = None,
    watermarks: dict[tuple[str, int], tuple[int, int]] | None = None,
) -> Manifest:
    """Write a complete dataset run from an in-memory RECORD_SCHEMA table; return its manifest.

    Used by `synth` and by tests that need a dataset without a broker. Each partition becomes one
    file covering `ranges[(topic, partition)]` (default: first offset to last offset + 1); offsets of
    the range missing from the table are recorded as skipped, exactly as a dump records them.
    `end_fixed_at` (epoch ms) is the simulated moment the dump fixed its end offsets; by default the
    table's latest record timestamp (dumped right after the last record was written), or now when
    there is none. `isolation` is the simulated dump's isolation level (None: unknown) and
    `watermarks[(topic, partition)]` its (low, high) watermarks (default: the range itself).
    """
    root = as_path(root)
    identity = read_identity(root)
    if identity is not None and identity["cluster_id"] != cluster_id:
        raise DatasetError(f"{root} holds data of cluster {identity['cluster_id']}, not {cluster_id}")
    write_identity(root, cluster_id)
    run_id = run_id or new_run_id()
    started = utc_now()
    table = table.sort_by([("topic", "ascending"), ("partition", "ascending"), ("offset", "ascending")])
    if end_fixed_at is None:
        latest = pc.max(table.column("timestamp")).as_py()
        end_fixed_at = int(latest.timestamp() * 1000) if latest is not None else now_ms()
    keys = sorted(set(zip(table.column("topic").to_pylist(), table.column("partition").to_pylist())))
    for topic_partition in ranges or {}:
        if topic_partition not in keys:
            keys.append(topic_partition)
    partitions = []
    for topic, partition in sorted(keys):
        mask = pc.and_(pc.equal(table.column("topic"), topic),
                               pc.equal(table.column("partition"), partition))
        part = table.filter(mask)
        offsets = part.column("offset")
        start, end = (ranges or {}).get((topic, partition), (offsets[0].as_py(), offsets[-1].as_py() + 1)
                                         if len(offsets) else (0, 0))
        writer = PartitionFileWriter(root, topic, partition, start, run_id=run_id)
        writer.write(part)
        low, high = (watermarks or {}).get((topic, partition), (start, end))
        entry = PartitionEntry(topic, partition, request={"start": start, "end": end},
                               watermarks_start={"low": low, "high": high}, watermarks_end={"low": low, "high": high},
                               start=start, end=end, end_fixed_at=utc_iso(end_fixed_at), read=[[start, end]],
                               complete=True)
        entry.add_files([writer.commit(end)])
        partitions.append(entry)
    topics = sorted({topic for topic, _ in keys})
    manifest = Manifest(
        run_id=run_id, status="complete", cluster_id=cluster_id, request=request or {"source": "write_records"},
        tool={"evkit": __version__}, isolation=isolation, started_at=started, finished_at=utc_now(),
        topics={t: {"partition_count": (partition_counts or {}).get(t, 1 + max(p for tt, p in keys if tt == t)),
                    "configs": (topic_configs or {}).get(t, {})} for t in topics},
        partitions=partitions,
    )
    write_manifest(root, manifest)
    return manifest


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(3).hex()


