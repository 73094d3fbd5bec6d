"""Where things are in a dataset directory: identity, run manifests, data files and their names.

A dataset is a directory::

    <root>/_evkit/dataset.json                      identity: format version, cluster id
    <root>/_evkit/runs/<run_id>.json                one manifest per dump run
    <root>/topic=<name>/partition=<n>/<start>-<end>.parquet

A Parquet file named `<start>-<end>` (20-digit, zero-padded) covers the offsets `[start, end)`: every
record Kafka delivered in that range is in it, and any offset of the range that is not in it was
skipped by Kafka (transaction markers, aborted or compacted records).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DatasetError
from .files import atomic_write_json
from .fs import ObjectPath, as_path, parquet_source

FORMAT_VERSION = 1
META_DIR = "_evkit"
RUNS_DIR = f"{META_DIR}/runs"
IDENTITY_FILE = f"{META_DIR}/dataset.json"
PARQUET_META_KEY = b"evkit"

_FILE_RE = re.compile(r"^(\d{20})-(\d{20})\.parquet$")


def partition_dir(root: Path | ObjectPath, topic: str, partition: int) -> Path | ObjectPath:
    return as_path(root) / f"topic={topic}" / f"partition={partition}"


def file_name(start: int, end: int) -> str:
    """Name of the file covering offsets [start, end)."""
    return f"{start:020d}-{end:020d}.parquet"


def parse_file_name(name: str) -> tuple[int, int] | None:
    match = _FILE_RE.match(name)
    return (int(match.group(1)), int(match.group(2))) if match else None


def data_files(root: Path) -> Iterator[Path]:
    """Every committed Parquet file of the dataset (hidden temporaries excluded)."""
    yield from sorted(as_path(root).glob("topic=*/partition=*/*.parquet"))


def file_metadata(path: Path) -> dict:
    """The evkit key-value metadata of a data file; DatasetError if the file is not readable Parquet."""
    try:
        meta = pq.read_metadata(parquet_source(path))
    except (OSError, pa.ArrowInvalid) as exc:
        raise DatasetError(f"{path}: not a readable Parquet file ({exc})") from None
    raw = (meta.metadata or {}).get(PARQUET_META_KEY)
    if raw is None:
        raise DatasetError(f"{path}: Parquet file has no evkit metadata; it was not written by evkit")
    info = json.loads(raw)
    info["num_rows"] = meta.num_rows
    return info


def manifest_path(root: Path, run_id: str) -> Path:
    return as_path(root) / RUNS_DIR / f"{run_id}.json"


def read_identity(root: Path) -> dict | None:
    path = as_path(root) / IDENTITY_FILE
    if not path.exists():
        return None
    try:
        identity = json.loads(path.read_text())
    except ValueError as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc})") from None
    require_shape(path, identity, {"cluster_id": str}, "the dataset identity")
    return identity


def write_identity(root: Path, cluster_id: str) -> None:
    atomic_write_json(as_path(root) / IDENTITY_FILE, {"format": FORMAT_VERSION, "cluster_id": cluster_id})


def require_shape(path: Path, obj: Any, shape: dict[str, type], where: str) -> None:
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: {where} is not a JSON object; the file was damaged or edited")
    for key, kind in shape.items():
        if not isinstance(obj.get(key), kind):
            raise DatasetError(f"{path}: {where} has no valid {key!r}; the file was damaged or edited")


def covered_intervals(root: Path) -> dict[tuple[str, int], list[list[int]]]:
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


