"""The on-disk dataset format shared by `dump`, `synth` and `open`.

A dataset is a directory::

    <root>/_evkit/dataset.json                      identity: format version, cluster id
    <root>/_evkit/runs/<run_id>.json                one manifest per dump run
    <root>/topic=<name>/partition=<n>/<start>-<end>.parquet

A Parquet file named `<start>-<end>` (20-digit, zero-padded) covers the offsets `[start, end)`: every
record Kafka delivered in that range is in it, and any offset of the range that is not in it was
skipped by Kafka (transaction markers, aborted or compacted records). Files and manifests appear
only complete: they are written under a hidden temporary name, fsynced and renamed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from .errors import DatasetError

FORMAT_VERSION = 1
META_DIR = "_evkit"
RUNS_DIR = f"{META_DIR}/runs"
IDENTITY_FILE = f"{META_DIR}/dataset.json"
PARQUET_META_KEY = b"evkit"

HEADER_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))

# One row per Kafka record. `key_text` is the key decoded as UTF-8 where it is valid UTF-8, else null.
RECORD_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("timestamp_type", pa.string()),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", HEADER_TYPE, nullable=False),
        pa.field("leader_epoch", pa.int32()),
        pa.field("key_size", pa.int32()),
        pa.field("value_size", pa.int32()),
        pa.field("key_text", pa.string()),
    ]
)

_FILE_RE = re.compile(r"^(\d{20})-(\d{20})\.parquet$")


def partition_dir(root: Path, topic: str, partition: int) -> Path:
    return Path(root) / f"topic={topic}" / f"partition={partition}"


def file_name(start: int, end: int) -> str:
    """Name of the file covering offsets [start, end)."""
    return f"{start:020d}-{end:020d}.parquet"


def parse_file_name(name: str) -> tuple[int, int] | None:
    match = _FILE_RE.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def data_files(root: Path) -> Iterator[Path]:
    """Every committed Parquet file of the dataset (hidden temporaries excluded)."""
    yield from sorted(Path(root).glob("topic=*/partition=*/*.parquet"))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    """A hidden name beside `final` that no dataset glob matches."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def commit_file(tmp: Path, final: Path) -> None:
    """fsync `tmp`, rename it to `final` and fsync the directory: the file appears complete or not at all."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
        commit_file(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporaries(directory: Path) -> int:
    """Delete hidden temporaries left by an interrupted writer; return how many."""
    count = 0
    for tmp in Path(directory).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FileEntry:
    """A committed data file as a manifest lists it (path relative to the dataset root)."""

    path: str
    start: int
    end: int
    rows: int
    first_offset: int | None
    last_offset: int | None
    bytes: int
    sha256: str

    def to_json(self) -> dict:
        return asdict(self)


class PartitionFileWriter:
    """Streams record batches of one partition into one Parquet file covering [start, end).

    The file is written under a temporary name; `commit(end)` closes it and renames it to its final
    name. `abort()` removes the temporary.
    """

    def __init__(self, root: Path, topic: str, partition: int, start: int, *, run_id: str,
                 compression: str = "zstd", compression_level: int | None = 3):
        self.root = Path(root)
        self.topic, self.partition, self.start, self.run_id = topic, partition, start, run_id
        self.directory = partition_dir(self.root, topic, partition)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.tmp = temp_path(self.directory / file_name(start, start))
        self.rows = 0
        self.data_bytes = 0  # Arrow bytes written, for rolling files by size
        self._writer = pq.ParquetWriter(
            self.tmp, RECORD_SCHEMA, compression=compression, compression_level=compression_level,
            write_statistics=True, use_dictionary=["topic", "timestamp_type"],
        )

    def write(self, table: pa.Table) -> None:
        """Append a table of records (in offset order) as one row group."""
        if table.num_rows == 0:
            return
        self.rows += table.num_rows
        self.data_bytes += table.nbytes
        self._writer.write_table(table, row_group_size=table.num_rows)

    def commit(self, end: int) -> Path:
        """Close the file as covering [start, end) and give it its final name; return that path."""
        meta = {"format": FORMAT_VERSION, "run_id": self.run_id, "topic": self.topic,
                "partition": self.partition, "start": self.start, "end": end, "rows": self.rows}
        self._writer.add_key_value_metadata({PARQUET_META_KEY: json.dumps(meta).encode()})
        self._writer.close()
        final = self.directory / file_name(self.start, end)
        commit_file(self.tmp, final)
        return final

    def abort(self) -> None:
        try:
            self._writer.close()
        finally:
            self.tmp.unlink(missing_ok=True)


def write_failure(root: Path, exc: OSError) -> DatasetError:
    """A full disk, a read-only mount or a missing permission: one line the user can act on."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return DatasetError(f"cannot write to {root}: {reason}; the committed part is kept: "
                        "make room and re-run the same command to resume")


def partition_files(root: Path, paths: list[Path]) -> dict:
    """What the committed files of one partition hold, as a manifest's partition entry lists it:
    first/last offset, records, key + value bytes, the offsets Kafka skipped inside the files'
    ranges (merged intervals), and the files with their sizes and checksums."""
    entries, skipped, data_bytes = [], [], 0
    for path in sorted(paths, key=lambda p: parse_file_name(p.name)):
        info = file_metadata(path)
        table = pq.read_table(path, columns=["offset", "key_size", "value_size"])
        offsets = table.column("offset").to_pylist()  # in offset order, as written
        skipped.extend(offset_gaps(offsets, info["start"], info["end"]))
        data_bytes += sum(pa.compute.sum(table.column(c)).as_py() or 0 for c in ("key_size", "value_size"))
        entries.append(FileEntry(
            path=path.relative_to(root).as_posix(), start=info["start"], end=info["end"], rows=info["num_rows"],
            first_offset=offsets[0] if offsets else None, last_offset=offsets[-1] if offsets else None,
            bytes=path.stat().st_size, sha256=sha256_file(path),
        ))
    return {
        "first_offset": min((e.first_offset for e in entries if e.first_offset is not None), default=None),
        "last_offset": max((e.last_offset for e in entries if e.last_offset is not None), default=None),
        "records": sum(e.rows for e in entries), "bytes": data_bytes,
        "skipped": merge_intervals(skipped), "files": [e.to_json() for e in entries],
    }


def merge_intervals(intervals: list[list[int]]) -> list[list[int]]:
    """Sorted half-open intervals with touching or overlapping ones joined."""
    merged: list[list[int]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged


def file_metadata(path: Path) -> dict:
    """The evkit key-value metadata of a data file; DatasetError if the file is not readable Parquet."""
    try:
        meta = pq.read_metadata(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    raw = (meta.metadata or {}).get(PARQUET_META_KEY)
    if raw is None:
        raise DatasetError(f"{path}: Parquet file has no evkit metadata; it was not written by evkit")
    info = json.loads(raw)
    info["num_rows"] = meta.num_rows
    return info


def read_identity(root: Path) -> dict | None:
    path = Path(root) / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        identity = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    _require_shape(path, identity, {"cluster_id": str}, "the dataset identity")
    return identity


def write_identity(root: Path, cluster_id: str) -> None:
    atomic_write_json(Path(root) / IDENTITY_FILE, {"format": FORMAT_VERSION, "cluster_id": cluster_id})


def manifest_path(root: Path, run_id: str) -> Path:
    return Path(root) / RUNS_DIR / f"{run_id}.json"


def read_manifests(root: Path) -> list[dict]:
    """Every run manifest of a dataset, oldest first; DatasetError for one that is not valid JSON or
    lacks a field that readers rely on (a damaged or edited manifest is never half-read)."""
    manifests = []
    for path in sorted((Path(root) / RUNS_DIR).glob("*.json")):
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            raise DatasetError(f"{path}: manifest is not valid JSON ({exc})") from None
        _require_shape(path, manifest, _MANIFEST_SHAPE, "the manifest")
        for i, part in enumerate(manifest["partitions"]):
            _require_shape(path, part, _PARTITION_SHAPE, f"partitions[{i}]")
            for j, entry in enumerate(part["files"]):
                _require_shape(path, entry, _FILE_SHAPE, f"partitions[{i}].files[{j}]")
        manifests.append(manifest)
    return manifests


# The fields (and types) of a manifest that dump and open rely on.
_MANIFEST_SHAPE = {"run_id": str, "status": str, "cluster_id": str, "partitions": list}
_PARTITION_SHAPE = {"topic": str, "partition": int, "start": int, "end": int, "files": list}
_FILE_SHAPE = {"path": str, "start": int, "end": int, "rows": int, "bytes": int, "sha256": str}


def _require_shape(path: Path, obj: Any, shape: dict[str, type], where: str) -> None:
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: {where} is not a JSON object; the file was damaged or edited")
    for key, kind in shape.items():
        if not isinstance(obj.get(key), kind):
            raise DatasetError(f"{path}: {where} has no valid {key!r}; the file was damaged or edited")


def write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_json(manifest_path(root, manifest["run_id"]), manifest)


def offset_gaps(offsets: list[int], start: int, end: int) -> list[list[int]]:
    """The half-open intervals of [start, end) that `offsets` (sorted, unique) does not cover."""
    gaps = []
    expected = start
    for offset in offsets:
        if offset > expected:
            gaps.append([expected, offset])
        expected = offset + 1
    if end > expected:
        gaps.append([expected, end])
    return gaps


def utf8_or_none(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def records_table(rows: list[dict]) -> pa.Table:
    """Build a RECORD_SCHEMA table from dicts with topic, partition, offset, timestamp (epoch ms or
    datetime), key, value and optionally headers [(key, value)], timestamp_type, leader_epoch.

    The derived columns (key_size, value_size, key_text) are computed here.
    """
    columns: dict[str, list] = {field.name: [] for field in RECORD_SCHEMA}
    for row in rows:
        key, value = row.get("key"), row.get("value")
        columns["topic"].append(row["topic"])
        columns["partition"].append(row["partition"])
        columns["offset"].append(row["offset"])
        columns["timestamp"].append(row.get("timestamp"))
        columns["timestamp_type"].append(row.get("timestamp_type", "create"))
        columns["key"].append(key)
        columns["value"].append(value)
        columns["headers"].append([{"key": k, "value": v} for k, v in row.get("headers") or ()])
        columns["leader_epoch"].append(row.get("leader_epoch"))
        columns["key_size"].append(None if key is None else len(key))
        columns["value_size"].append(None if value is None else len(value))
        columns["key_text"].append(utf8_or_none(key))
    return pa.Table.from_pydict(columns, schema=RECORD_SCHEMA)


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
) -> dict:
    """Write a complete dataset run from an in-memory RECORD_SCHEMA table; return its manifest.

    Used by `synth` and by tests that need a dataset without a broker. Each partition becomes one
    file covering `ranges[(topic, partition)]` (default: first offset to last offset + 1); offsets of
    the range missing from the table are recorded as skipped, exactly as a dump records them.
    `end_fixed_at` (epoch ms) is the simulated moment the dump fixed its end offsets; by default the
    table's latest record timestamp (dumped right after the last record was written), or now when
    there is none. `isolation` is the simulated dump's isolation level (None: unknown) and
    `watermarks[(topic, partition)]` its (low, high) watermarks (default: the range itself).
    """
    from . import __version__

    root = Path(root)
    identity = read_identity(root)
    if identity is not None and identity["cluster_id"] != cluster_id:
        raise DatasetError(f"{root} holds data of cluster {identity['cluster_id']}, not {cluster_id}")
    write_identity(root, cluster_id)
    run_id = run_id or new_run_id()
    started = utc_now()
    table = table.sort_by([("topic", "ascending"), ("partition", "ascending"), ("offset", "ascending")])
    if end_fixed_at is None:
        latest = pa.compute.max(table.column("timestamp")).as_py()
        end_fixed_at = int(latest.timestamp() * 1000) if latest is not None else now_ms()
    keys = sorted(set(zip(table.column("topic").to_pylist(), table.column("partition").to_pylist())))
    for topic_partition in ranges or {}:
        if topic_partition not in keys:
            keys.append(topic_partition)
    partitions = []
    for topic, partition in sorted(keys):
        mask = pa.compute.and_(pa.compute.equal(table.column("topic"), topic),
                               pa.compute.equal(table.column("partition"), partition))
        part = table.filter(mask)
        offsets = part.column("offset")
        start, end = (ranges or {}).get((topic, partition), (offsets[0].as_py(), offsets[-1].as_py() + 1)
                                         if len(offsets) else (0, 0))
        writer = PartitionFileWriter(root, topic, partition, start, run_id=run_id)
        writer.write(part)
        path = writer.commit(end)
        low, high = (watermarks or {}).get((topic, partition), (start, end))
        partitions.append({
            "topic": topic, "partition": partition,
            "request": {"start": start, "end": end},
            "watermarks_start": {"low": low, "high": high}, "watermarks_end": {"low": low, "high": high},
            "start": start, "end": end, "end_fixed_at": utc_iso(end_fixed_at), "read": [[start, end]],
            **partition_files(root, [path]), "complete": True,
        })
    topics = sorted({topic for topic, _ in keys})
    manifest = {
        "format": FORMAT_VERSION, "run_id": run_id, "status": "complete",
        "tool": {"evkit": __version__}, "cluster_id": cluster_id,
        "request": request or {"source": "write_records"}, "client_config": {}, "isolation": isolation,
        "started_at": started, "finished_at": utc_now(),
        "topics": {
            t: {"partition_count": (partition_counts or {}).get(t, 1 + max(p for tt, p in keys if tt == t)),
                "configs": (topic_configs or {}).get(t, {})}
            for t in topics
        },
        "partitions": partitions,
        "totals": {"records": sum(p["records"] for p in partitions), "bytes": sum(p["bytes"] for p in partitions)},
    }
    write_manifest(root, manifest)
    return manifest


def utc_iso(ms: int) -> str:
    """Epoch milliseconds as the manifests write times: `2026-11-27T15:12:00.123Z`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_now() -> str:
    return utc_iso(now_ms())


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ") + "-" + os.urandom(3).hex()


def coverage(root: Path) -> dict[tuple[str, int], list[list[int]]]:
    """The offset intervals each partition's committed files cover."""
    covered: dict[tuple[str, int], list[list[int]]] = {}
    for path in data_files(root):
        parsed = parse_file_name(path.name)
        if parsed is None:
            continue
        topic = path.parent.parent.name.split("=", 1)[1]
        partition = int(path.parent.name.split("=", 1)[1])
        covered.setdefault((topic, partition), []).append(list(parsed))
    return {k: sorted(v) for k, v in covered.items()}


def subtract(intervals: list[list[int]], taken: list[list[int]]) -> list[list[int]]:
    """The parts of half-open `intervals` not inside any of `taken` (both sorted)."""
    result = []
    for start, end in intervals:
        cursor = start
        for t_start, t_end in taken:
            if t_end <= cursor or t_start >= end:
                continue
            if t_start > cursor:
                result.append([cursor, t_start])
            cursor = max(cursor, t_end)
        if cursor < end:
            result.append([cursor, end])
    return result
