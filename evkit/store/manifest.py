"""Run manifests (`_evkit/runs/<run_id>.json`) as typed objects: what a run asked for, read and
committed, validated when read, and written in the one JSON format readers rely on."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DatasetError
from .files import atomic_write_json, sha256_file
from .fs import as_path, parquet_source
from .intervals import merge_intervals, offset_gaps
from .layout import FORMAT_VERSION, RUNS_DIR, file_metadata, manifest_path, require_shape


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


@dataclass
class CommittedFile:
    """A data file just committed: its manifest entry, the offsets of its range Kafka skipped, and
    the key + value bytes it holds. The writer knows these as it writes; `read_committed` reads
    them back from a file an earlier, interrupted attempt of a run committed."""

    topic: str
    partition: int
    entry: FileEntry
    skipped: list[list[int]]
    data_bytes: int
    schema_ids: dict[str, dict[str, int]] = field(default_factory=dict)  # records per schema id of key/value

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: dict) -> CommittedFile:
        return cls(**{**obj, "entry": FileEntry(**obj["entry"])})


def read_committed(root: Path, path: Path) -> CommittedFile:
    """What a committed data file holds, read back from the file."""
    info = file_metadata(path)
    table = pq.read_table(parquet_source(path), columns=["offset", "key_size", "value_size"])
    offsets = table.column("offset").to_pylist()  # in offset order, as written
    entry = FileEntry(path=path.relative_to(root).as_posix(), start=info["start"], end=info["end"], rows=info["num_rows"],
                      first_offset=offsets[0] if offsets else None, last_offset=offsets[-1] if offsets else None,
                      bytes=path.stat().st_size, sha256=sha256_file(path))
    data_bytes = sum(pc.sum(table.column(c)).as_py() or 0 for c in ("key_size", "value_size"))
    return CommittedFile(info["topic"], info["partition"], entry, offset_gaps(offsets, info["start"], info["end"]),
                         data_bytes)


@dataclass
class PartitionEntry:
    """One partition of a run: the request, the watermarks, the resolved range [start, end), the
    parts of it this run read, and what its committed files hold."""

    topic: str
    partition: int
    request: dict = field(default_factory=dict)
    watermarks_start: dict | None = None
    watermarks_end: dict | None = None
    start: int = 0
    end: int = 0
    end_fixed_at: str | None = None
    read: list[list[int]] = field(default_factory=list)
    first_offset: int | None = None
    last_offset: int | None = None
    records: int = 0
    bytes: int = 0
    skipped: list[list[int]] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    complete: bool = False

    def add_files(self, committed: list[CommittedFile]) -> None:
        """List `committed` (this partition's files, in any order) and total what they hold."""
        committed = sorted(committed, key=lambda c: c.entry.start)
        self.files = [c.entry for c in committed]
        self.first_offset = min((f.first_offset for f in self.files if f.first_offset is not None), default=None)
        self.last_offset = max((f.last_offset for f in self.files if f.last_offset is not None), default=None)
        self.records = sum(f.rows for f in self.files)
        self.bytes = sum(c.data_bytes for c in committed)
        self.skipped = merge_intervals([gap for c in committed for gap in c.skipped])

    def to_json(self) -> dict:
        return {**asdict(self), "complete": self.complete}  # `complete` last, as manifests have always had it

    @classmethod
    def from_json(cls, obj: dict) -> PartitionEntry:
        known = {f.name for f in fields(cls)}
        entry = cls(**{k: v for k, v in obj.items() if k in known and k != "files"})
        entry.files = [FileEntry(**{k: f.get(k) for k in FileEntry.__dataclass_fields__}) for f in obj["files"]]
        return entry


@dataclass
class Manifest:
    """A run: its identity, the request and client settings (secrets redacted), its plan (a dump's
    resolved ranges, as JSON), the topics' configs at dump time and a PartitionEntry per partition.
    `status` is running, interrupted, failed or complete on disk; `evkit.dump` also returns
    dry_run (nothing read) and nothing_to_do (the dataset already held the range)."""

    run_id: str
    status: str
    cluster_id: str
    request: dict = field(default_factory=dict)
    tool: dict = field(default_factory=dict)
    client_config: dict = field(default_factory=dict)
    isolation: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    topics: dict[str, dict] = field(default_factory=dict)
    plan: list[dict] | None = None
    partitions: list[PartitionEntry] = field(default_factory=list)
    format: int = FORMAT_VERSION
    schemas: dict | None = None  # registry schemas met: {"registry", "seen", "stored", "unknown"} (docs/dataset-format.md)
    masking: dict | None = None  # evkit/share/mask.py: the rules and key fingerprint of a masked run

    @property
    def records(self) -> int:
        return sum(p.records for p in self.partitions)

    @property
    def bytes(self) -> int:
        """Key + value bytes read."""
        return sum(p.bytes for p in self.partitions)

    def to_json(self) -> dict:
        obj = {"format": self.format, "run_id": self.run_id, "status": self.status, "tool": self.tool,
               "cluster_id": self.cluster_id, "request": self.request, "client_config": self.client_config,
               "isolation": self.isolation, "started_at": self.started_at, "finished_at": self.finished_at,
               "topics": self.topics}
        if self.plan is not None:
            obj["plan"] = self.plan
        if self.schemas is not None:
            obj["schemas"] = self.schemas
        if self.masking is not None:
            obj["masking"] = self.masking
        return obj | {"partitions": [p.to_json() for p in self.partitions],
                      "totals": {"records": self.records, "bytes": self.bytes}}

    @classmethod
    def from_json(cls, obj: dict) -> Manifest:
        known = {f.name for f in fields(cls)}
        manifest = cls(**{k: v for k, v in obj.items() if k in known and k != "partitions"})
        manifest.partitions = [PartitionEntry.from_json(p) for p in obj["partitions"]]
        return manifest


def read_manifests(root: Path) -> list[Manifest]:
    """Every run manifest of a dataset, oldest first; DatasetError for one that is not valid JSON or
    lacks a field that readers rely on (a damaged or edited manifest is never half-read)."""
    manifests = []
    for path in sorted((as_path(root) / RUNS_DIR).glob("*.json")):
        try:
            obj = json.loads(path.read_text())
        except ValueError as exc:
            raise DatasetError(f"{path}: manifest is not valid JSON ({exc})") from None
        require_shape(path, obj, _MANIFEST_SHAPE, "the manifest")
        if "schemas" in obj:
            require_shape(path, obj["schemas"], _SCHEMAS_SHAPE, "schemas")
        for i, part in enumerate(obj["partitions"]):
            require_shape(path, part, _PARTITION_SHAPE, f"partitions[{i}]")
            for j, entry in enumerate(part["files"]):
                require_shape(path, entry, _FILE_SHAPE, f"partitions[{i}].files[{j}]")
        manifests.append(Manifest.from_json(obj))
    return manifests


# The fields (and types) of a manifest that dump and open rely on.
_MANIFEST_SHAPE = {"run_id": str, "status": str, "cluster_id": str, "partitions": list}
_PARTITION_SHAPE = {"topic": str, "partition": int, "start": int, "end": int, "files": list}
_SCHEMAS_SHAPE = {"seen": dict, "stored": dict, "unknown": dict}
_FILE_SHAPE = {"path": str, "start": int, "end": int, "rows": int, "bytes": int, "sha256": str}


def masking_of(manifests: list[Manifest]) -> dict | None:
    """The masking record a dataset's runs share (None: unmasked); DatasetError when their rules or
    keys differ."""
    records = {json.dumps(masking_identity(m.masking), sort_keys=True) for m in manifests}
    if len(records) > 1:
        raise DatasetError("the dataset's runs are masked differently (or some not at all); "
                           "keep each masking in its own dataset")
    return manifests[0].masking if manifests else None


def masking_identity(masking: dict | None) -> dict | None:
    """What two runs must share to be one masked dataset: the rules and the key's fingerprint."""
    return None if masking is None else {k: masking.get(k) for k in ("rules", "key_fingerprint")}


def describe_masking(masking: dict | None) -> str:
    """How a dataset's one-line description says it is masked ("" when it is not)."""
    return "" if masking is None else f", masked with key {masking['key_fingerprint'] or '(none: nothing hashed)'}"


def write_manifest(root: Path, manifest: Manifest) -> None:
    atomic_write_json(manifest_path(root, manifest.run_id), manifest.to_json())

