"""The schemas a dataset carries, so that it decodes years later with no registry (docs/schema-registry.md).

One file per registry schema id, `<dataset>/_evkit/schemas/<id>.json`::

    {"id": 3, "subject": "orders-value", "version": 2, "schema_type": "AVRO", "schema": "<text as the registry gave it>",
     "references": [{"name": "evkit.Money", "subject": "money", "version": 1}]}

Schemas a stored schema references are stored too, each as its own file, found by subject and version.
Files are written atomically (temporary, fsync, rename); reading validates every one, so a damaged
or edited file is a one-line DatasetError, never half a schema.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DatasetError
from ..store.files import atomic_write_json, sha256_file
from ..store.fs import as_path
from ..store.layout import META_DIR

if TYPE_CHECKING:
    from ..store.manifest import Manifest

SCHEMAS_DIR = f"{META_DIR}/schemas"
SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")


@dataclass(frozen=True)
class Reference:
    """A schema another one imports: the name it is imported under, and its subject and version."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class StoredSchema:
    """One registry schema as the dataset keeps it. `schema` is the text the registry answered (for
    Protobuf, `.proto` text or a base64 FileDescriptorProto, depending on the registry)."""

    id: int
    subject: str | None
    version: int | None
    schema_type: str
    schema: str
    references: tuple[Reference, ...] = field(default=())

    def to_json(self) -> dict:
        return {"id": self.id, "subject": self.subject, "version": self.version, "schema_type": self.schema_type,
                "schema": self.schema,
                "references": [{"name": r.name, "subject": r.subject, "version": r.version} for r in self.references]}


def schema_path(root: str | Path, schema_id: int) -> Path:
    return as_path(root) / SCHEMAS_DIR / f"{schema_id}.json"


def write_schema(root: str | Path, schema: StoredSchema) -> str:
    """Store `schema` in the dataset `root` (replacing a file of the same id); return the file's sha256."""
    path = schema_path(root, schema.id)
    atomic_write_json(path, schema.to_json())
    return sha256_file(path)


def load_schemas(root: str | Path) -> dict[int, StoredSchema]:
    """Every schema stored in the dataset `root`, by id; an empty dict for a dataset without schemas.
    DatasetError (one line) for a file that is not a valid stored schema."""
    schemas = {}
    for path in sorted((as_path(root) / SCHEMAS_DIR).glob("*.json")):
        schema = read_schema(path)
        schemas[schema.id] = schema
    return dict(sorted(schemas.items()))


def read_schema(path: Path) -> StoredSchema:
    """One stored schema file, validated field by field."""
    try:
        obj = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise _damaged(path, "not a JSON object")
    for key, kinds in _SHAPE.items():
        if key not in obj or not isinstance(obj[key], kinds) or isinstance(obj[key], bool):
            raise _damaged(path, f"no valid {key!r}")
    if obj["schema_type"] not in SCHEMA_TYPES:
        raise _damaged(path, f"schema_type {obj['schema_type']!r} is not one of {', '.join(SCHEMA_TYPES)}")
    if path.stem != str(obj["id"]):
        raise _damaged(path, f"it holds schema id {obj['id']}, not {path.stem}")
    references = []
    for ref in obj["references"]:
        if not (isinstance(ref, dict) and isinstance(ref.get("name"), str) and isinstance(ref.get("subject"), str)
                and isinstance(ref.get("version"), int) and not isinstance(ref.get("version"), bool)):
            raise _damaged(path, "a reference without a valid name, subject and version")
        references.append(Reference(ref["name"], ref["subject"], ref["version"]))
    return StoredSchema(obj["id"], obj["subject"], obj["version"], obj["schema_type"], obj["schema"], tuple(references))


def check_stored(root: str | Path, manifests: list[Manifest], *, verify: bool = True) -> None:
    """Every schema file a run recorded is there and, with `verify`, holds what was written (sha256);
    every stored file is a valid schema. DatasetError (one line) otherwise."""
    for manifest in manifests:
        for name, sha256 in ((manifest.schemas or {}).get("stored") or {}).items():
            path = schema_path(root, int(name))
            if not path.exists():
                raise DatasetError(f"{path}: listed by dump run {manifest.run_id} but missing; the dataset was "
                                   "modified after the dump")
            if verify and sha256_file(path) != sha256:
                raise DatasetError(f"{path}: sha256 differs from what dump run {manifest.run_id} recorded; the schema "
                                   "file was changed or corrupted")
    load_schemas(root)


def referenced(schema: StoredSchema, schemas: dict[int, StoredSchema]) -> list[StoredSchema]:
    """The stored schemas `schema` imports, depth first (a reference's own references before it);
    DatasetError for one the dataset does not hold."""
    by_version = {(s.subject, s.version): s for s in schemas.values()}
    found: list[StoredSchema] = []

    def visit(current: StoredSchema) -> None:
        for ref in current.references:
            target = by_version.get((ref.subject, ref.version))
            if target is None:
                raise DatasetError(f"schema {schema.id} references {ref.subject} version {ref.version}, "
                                   "which the dataset does not hold: run `evkit schemas fetch` with the registry")
            if target not in found:
                visit(target)
                found.append(target)

    visit(schema)
    return found


_SHAPE: dict[str, type | tuple[type, ...]] = {
    "id": int, "subject": (str, type(None)), "version": (int, type(None)), "schema_type": str, "schema": str,
    "references": list,
}


def _damaged(path: Path, what: str) -> DatasetError:
    return DatasetError(f"{path}: not a valid stored schema ({what}); the file was damaged or edited")
