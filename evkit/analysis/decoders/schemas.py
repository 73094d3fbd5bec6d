"""The schemas a dataset carries (`<dataset>/_evkit/schemas/<id>.json`, written by the dump) as the
decode step needs them: by id, with their type, text and references. Only these are used: a dataset
decodes with the registry stopped."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import DatasetError

SCHEMA_TYPES = ("AVRO", "PROTOBUF", "JSON")


@dataclass(frozen=True)
class Schema:
    """One stored schema; `references` are (name, subject, version) of the schemas it imports."""

    id: int
    schema_type: str
    text: str
    subject: str | None = None
    version: int | None = None
    references: tuple[tuple[str, str, int], ...] = field(default=())


def load(root: Path) -> dict[int, Schema]:
    """Every schema stored in the dataset `root`, by id (none: an empty dict)."""
    schemas = {}
    for path in sorted((root / "_evkit" / "schemas").glob("*.json")):
        try:
            data = json.loads(path.read_text())
            schema = Schema(int(data["id"]), data.get("schema_type") or "AVRO", data["schema"], data.get("subject"),
                            data.get("version"), tuple((r["name"], r["subject"], int(r["version"]))
                                                       for r in data.get("references") or []))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{path}: not a stored schema ({exc})") from None
        if schema.schema_type not in SCHEMA_TYPES:
            raise DatasetError(f"{path}: schema type {schema.schema_type!r} is not one of {', '.join(SCHEMA_TYPES)}")
        schemas[schema.id] = schema
    return schemas


def referenced(schema: Schema, schemas: dict[int, Schema]) -> list[tuple[str, Schema]]:
    """The schemas `schema` references, depth first (a reference's own references before it), each
    with the name it is imported under; DatasetError for one the dataset does not hold."""
    by_version = {(s.subject, s.version): s for s in schemas.values()}
    found: list[tuple[str, Schema]] = []

    def visit(current: Schema) -> None:
        for name, subject, version in current.references:
            target = by_version.get((subject, version))
            if target is None:
                raise DatasetError(f"schema {schema.id} references {subject} version {version}, "
                                   "which the dataset does not hold")
            if all(target is not seen for _, seen in found):
                visit(target)
                found.append((name, target))

    visit(schema)
    return found
