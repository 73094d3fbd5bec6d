"""Run manifests: reading, validating and writing `_evkit/runs/<run_id>.json`, and the entries of
the files a run committed."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute  # noqa: F401 - pa.compute
import pyarrow.parquet as pq

from ..errors import DatasetError
from .files import atomic_write_json, sha256_file
from .layout import RUNS_DIR, file_metadata, manifest_path, parse_file_name, require_shape
from .intervals import merge_intervals, offset_gaps

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


def read_manifests(root: Path) -> list[dict]:
    """Every run manifest of a dataset, oldest first; DatasetError for one that is not valid JSON or
    lacks a field that readers rely on (a damaged or edited manifest is never half-read)."""
    manifests = []
    for path in sorted((Path(root) / RUNS_DIR).glob("*.json")):
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            raise DatasetError(f"{path}: manifest is not valid JSON ({exc})") from None
        require_shape(path, manifest, _MANIFEST_SHAPE, "the manifest")
        for i, part in enumerate(manifest["partitions"]):
            require_shape(path, part, _PARTITION_SHAPE, f"partitions[{i}]")
            for j, entry in enumerate(part["files"]):
                require_shape(path, entry, _FILE_SHAPE, f"partitions[{i}].files[{j}]")
        manifests.append(manifest)
    return manifests


# The fields (and types) of a manifest that dump and open rely on.
_MANIFEST_SHAPE = {"run_id": str, "status": str, "cluster_id": str, "partitions": list}
_PARTITION_SHAPE = {"topic": str, "partition": int, "start": int, "end": int, "files": list}
_FILE_SHAPE = {"path": str, "start": int, "end": int, "rows": int, "bytes": int, "sha256": str}


def write_manifest(root: Path, manifest: dict) -> None:
    atomic_write_json(manifest_path(root, manifest["run_id"]), manifest)


