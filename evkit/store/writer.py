"""Writing data: one partition's records streamed into a Parquet file, whole runs from memory, run ids."""
from __future__ import annotations

import json
import os
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
from .files import sha256_file
from .manifest import CommittedFile, FileEntry, Manifest, PartitionEntry, write_manifest
from .records import RECORD_SCHEMA

class PartitionFileWriter:
    """Streams record batches of one partition into one Parquet file covering [start, end).

    The file is written under a temporary name; `commit(end)` closes it, renames it to its final
    name and returns what it holds (its manifest entry, the offsets Kafka skipped, the key + value
    bytes), tracked while writing so that nothing is read back but the checksum. `abort()` removes
    the temporary.
    """

    def __init__(self, root: Path, topic: str, partition: int, start: int, *, run_id: str,
                 compression: str = "zstd", compression_level: int | None = 3, schema: pa.Schema = RECORD_SCHEMA):
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
        self._writer = pq.ParquetWriter(
            self.tmp, schema, compression=compression, compression_level=compression_level,
            write_statistics=True, use_dictionary=["topic", "timestamp_type"],
        )

    def write(self, table: pa.Table) -> None:
        """Append a table of records (in offset order, after those written so far) as one row group."""
        if table.num_rows == 0:
            return
        offsets = table.column("offset").to_numpy()
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
        final = self.directory / file_name(self.start, end)
        size, digest = self.tmp.stat().st_size, sha256_file(self.tmp)  # of the bytes committed: no read-back
        commit_file(self.tmp, final)
        entry = FileEntry(path=final.relative_to(self.root).as_posix(), start=self.start, end=end, rows=self.rows,
                          first_offset=self.first_offset, last_offset=None if self.rows == 0 else self.next_offset - 1,
                          bytes=size, sha256=digest)
        skipped = self.skipped + ([[self.next_offset, end]] if end > self.next_offset else [])
        return CommittedFile(self.topic, self.partition, entry, skipped, self.key_value_bytes)

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


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


