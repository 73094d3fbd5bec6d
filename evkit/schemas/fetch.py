"""The schemas a dump met: counted per run, fetched from the registry with their references, stored
in the dataset, and recorded in the run's manifest (`schemas`: docs/dataset-format.md).

`evkit dump --schema-registry URL` collects while it reads; `evkit schemas fetch DATASET
--schema-registry URL` (`fetch_schemas`) does the same afterwards for the ids a dump recorded (or,
for a dataset dumped before evkit recorded them, the ids its files hold); `evkit schemas list DATASET`
(`list_schemas`) shows what is stored and what is not.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .._progress import bar
from ..errors import DatasetError, RegistryError, UsageError
from ..cluster.connection import parse_settings, read_properties
from ..store.files import sha256_file
from ..store.layout import read_identity
from ..store.manifest import Manifest, read_manifests, write_manifest
from ..store.fs import parquet_source
from .registry import Registry, open_registry
from .store import load_schemas, schema_path, write_schema
from .wire import merge_ids, registry_id, schema_ids

log = logging.getLogger("evkit.schemas")


class SchemaCollector:
    """One run's schemas: the records per id seen per topic and key/value, and, with a registry, each
    registry id fetched (with its references) and stored the first time it is met. An id already
    stored in the dataset is not fetched again; an id the registry does not know is recorded as
    unknown (its records keep their raw bytes)."""

    def __init__(self, root: Path, registry: Registry | None, previous: dict | None = None, *,
                 tolerant: bool = False):
        self.root, self.registry, self.tolerant = root, registry, tolerant
        previous = previous or {}
        self.seen: dict[str, dict[str, dict[str, int]]] = {}
        self.stored: dict[str, str] = dict(previous.get("stored", {}))
        self.unknown: set[str] = set(previous.get("unknown", {})) if registry is None else set()
        self.failed: dict[str, str] = {}  # id -> why it could not be fetched (tolerant: a dump goes on)
        self._on_disk: dict | None = None

    def add(self, topic: str, ids: dict[str, dict[str, int]]) -> None:
        """Count `ids` (as `wire.schema_ids` returns them) for `topic`; fetch and store new registry ids."""
        merge_ids(self.seen.setdefault(topic, {}), ids)
        for field, counts in ids.items():
            for name in counts:
                number = registry_id(name)
                if number is not None and name not in self.stored and name not in self.unknown | set(self.failed):
                    self._resolve(number, f"{topic}-{field}")

    def _resolve(self, schema_id: int, subject: str) -> None:
        if self._on_disk is None:
            self._on_disk = load_schemas(self.root)
        stored = self._on_disk.get(schema_id)
        if stored is not None:  # an earlier run (or fetch) stored it
            self.stored[str(schema_id)] = _sha(self.root, schema_id)
            return
        if self.registry is None:
            return
        try:
            found = self.registry.with_references(schema_id, subjects=[subject])
        except RegistryError as exc:
            if not self.tolerant:
                raise
            log.warning("schema %s not fetched: %s", schema_id, exc)
            self.failed[str(schema_id)] = str(exc)
            return
        if found is None:
            self.unknown.add(str(schema_id))
            return
        for schema in found:
            if schema.id not in self._on_disk:
                self.stored[str(schema.id)] = write_schema(self.root, schema)
                self._on_disk[schema.id] = schema
            else:
                self.stored.setdefault(str(schema.id), _sha(self.root, schema.id))

    def section(self) -> dict | None:
        """The manifest's `schemas` section; None when there is nothing to say (no registry, no id)."""
        if self.registry is None and not self.seen:
            return None
        counts = _records_per_id(self.seen)
        return {"registry": self.registry.url if self.registry else None,
                "seen": {t: self.seen[t] for t in sorted(self.seen)},
                "stored": dict(sorted(self.stored.items(), key=lambda item: int(item[0]))),
                "unknown": {i: counts.get(i, 0) for i in sorted(self.unknown, key=int)}} | (
                    {"not_fetched": self.failed} if self.failed else {})


def summary(section: dict | None) -> str | None:
    """What a run's `schemas` section says, as the end of a dump's summary line; None if nothing."""
    if not section:
        return None
    counts = _records_per_id(section["seen"])
    ids = sorted((n for n in counts if registry_id(n) is not None), key=int)
    if section["registry"] is None:
        missing = [i for i in ids if i not in section["stored"]]
        if not missing:
            return f"schema ids {', '.join(ids)} stored" if ids else None
        return (f"schema ids seen: {', '.join(missing)} not stored (add them: evkit schemas fetch DATASET "
                "--schema-registry URL)")
    text = f"{len(section['stored'])} schema(s) stored"
    if section["unknown"]:
        unknown = ", ".join(f"{i} ({n:,} records)" for i, n in section["unknown"].items())
        text += f"; ids unknown to the registry: {unknown}, raw bytes kept"
    if section.get("not_fetched"):
        text += (f"; ids not fetched: {', '.join(section['not_fetched'])} "
                 f"({next(iter(section['not_fetched'].values()))}): evkit schemas fetch DATASET adds them")
    return text


def fetch_schemas(dataset: str | Path, *, schema_registry: str | None = None,
                  client_config: dict[str, str] | list[str] | tuple[str, ...] | None = None,
                  client_config_file: str | Path | None = None, quiet: bool = False) -> dict:
    """Fetch the schemas of every registry id the dataset's runs met and store them (with their
    references) in the dataset, recording them in the runs' manifests; ids already stored are kept.
    Returns `{"stored": [ids], "unknown": {id: records}}` over the whole dataset. Registry settings
    come as `schema.registry.*` properties in `client_config` (`-X`) or the file (`-F`)."""
    root = Path(dataset)
    manifests = _manifests(root)
    settings = read_properties(client_config_file) if client_config_file else {}
    settings.update(parse_settings(client_config))
    registry = open_registry(schema_registry, settings)
    if registry is None:
        raise UsageError("give --schema-registry URL (or schema.registry.url in -X/-F)")
    registry.check()
    stored: dict[str, str] = {}
    unknown: dict[str, int] = {}
    for manifest in manifests:
        previous = manifest.schemas or {}
        collector = SchemaCollector(root, registry, previous)
        seen = previous.get("seen") if manifest.schemas is not None else _ids_in_files(root, manifest, quiet=quiet)
        for topic, ids in seen.items():
            collector.add(topic, ids)
        manifest.schemas = collector.section()
        write_manifest(root, manifest)
        stored.update(manifest.schemas["stored"])
        unknown.update(manifest.schemas["unknown"])
    return {"stored": sorted(int(i) for i in stored), "unknown": {int(i): n for i, n in unknown.items()}}


def list_schemas(dataset: str | Path) -> list[SchemaListing]:
    """Every schema id the dataset's runs met or store, by id: what is stored, the records per topic
    and key/value that name it, and whether it is stored, unknown to the registry, or not fetched."""
    root = Path(dataset)
    manifests = _manifests(root)
    schemas = load_schemas(root)
    seen: dict[str, dict[str, int]] = {}
    unknown: set[str] = set()
    for manifest in manifests:
        for topic, ids in (manifest.schemas or {}).get("seen", {}).items():
            for field, counts in ids.items():
                for name, count in counts.items():
                    where = seen.setdefault(name, {})
                    where[f"{topic}/{field}"] = where.get(f"{topic}/{field}", 0) + count
        unknown.update((manifest.schemas or {}).get("unknown", {}))
    names = sorted(set(seen) | {str(i) for i in schemas}, key=lambda n: (registry_id(n) is None, registry_id(n) or 0, n))
    listing = []
    for name in names:
        number = registry_id(name)
        schema = schemas.get(number) if number is not None else None
        status = ("stored" if schema else "unknown to the registry" if name in unknown
                  else "not fetched" if number is not None else "not a registry id")
        listing.append(SchemaListing(name, status, schema and schema.schema_type, schema and schema.subject,
                                     schema and schema.version, len(schema.references) if schema else 0,
                                     dict(sorted(seen.get(name, {}).items()))))
    return listing


@dataclass(frozen=True)
class SchemaListing:
    """One line of `evkit schemas list`: an id, its status, what is stored and the records naming it
    (`{"orders/value": 120}`; empty for a schema stored only as a reference)."""

    id: str
    status: str
    schema_type: str | None
    subject: str | None
    version: int | None
    references: int
    records: dict[str, int]


def format_listing(listing: list[SchemaListing]) -> str:
    """`evkit schemas list`'s table."""
    if not listing:
        return "no schema ids in this dataset"
    rows = [("id", "status", "type", "subject", "version", "refs", "records")]
    rows += [(s.id, s.status, s.schema_type or "-", s.subject or "-", "-" if s.version is None else str(s.version),
              str(s.references), ", ".join(f"{where} {n:,}" for where, n in s.records.items()) or "-")
             for s in listing]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows)


def _manifests(root: Path) -> list[Manifest]:
    if not root.is_dir() or read_identity(root) is None:
        raise DatasetError(f"{root}: not an evkit dataset (no _evkit/dataset.json)")
    manifests = read_manifests(root)
    if not manifests:
        raise DatasetError(f"{root}: the dataset has no dump run manifests")
    return manifests


def file_schema_ids(path: Path) -> dict[str, dict[str, int]]:
    """The records per schema id of a data file's keys and values, read batch by batch."""
    found: dict[str, dict[str, int]] = {}
    for batch in pq.ParquetFile(parquet_source(path)).iter_batches(columns=["key", "value", "headers"]):
        merge_ids(found, schema_ids(pa.Table.from_batches([batch])))
    return found


def _ids_in_files(root: Path, manifest: Manifest, *, quiet: bool) -> dict[str, dict[str, dict[str, int]]]:
    """The ids a run's files hold, for a run written before evkit recorded them."""
    seen: dict[str, dict[str, dict[str, int]]] = {}
    files = [(part.topic, entry) for part in manifest.partitions for entry in part.files]
    with bar(total=sum(e.bytes for _, e in files), unit="B", unit_scale=True, desc=f"scan {manifest.run_id}",
             quiet=quiet, leave=False) as shown:
        for topic, entry in files:
            merge_ids(seen.setdefault(topic, {}), file_schema_ids(root / entry.path))
            shown.update(entry.bytes)
    return seen


def _records_per_id(seen: dict[str, dict[str, dict[str, int]]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for fields in seen.values():
        for ids in fields.values():
            for name, n in ids.items():
                counts[name] = counts.get(name, 0) + n
    return counts


def _sha(root: Path, schema_id: int) -> str:
    return sha256_file(schema_path(root, schema_id))


