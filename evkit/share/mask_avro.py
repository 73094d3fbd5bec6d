"""Avro values masked field by field (docs/sharing.md, "Avro fields"), for `evkit mask`: a value framed
by a stored Avro schema (magic byte 0, the 4-byte schema id) is decoded with fastavro, walked with the
topic's `$` rules (`Masker.walk_avro`, the JSON walk's rule lookup) and re-encoded with the same writer
schema behind the same 5 bytes. Logical types are read and written as their stored type (a long, bytes),
so what is kept is written back as it was read.

Before anything is written, `AvroValues.check_dataset` holds each rule (and `otherwise`) that reaches a
field against what the field's type can hold; a UsageError names the first that cannot. The dump never
imports this module: at dump time the schemas are not stored yet (Masker refuses framed values there).
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from ..analysis.decoders.framing import PREFIX, frames
from ..errors import DatasetError, UsageError
from ..schemas.compat import _avro_type
from ..schemas.store import StoredSchema, referenced
from .mask import ACTIONS, Masker, TopicRules

if TYPE_CHECKING:
    from ..store.manifest import Manifest

TEXT_ACTIONS = ("keep", "hash", "redact", "redact_same_size")  # what a string or bytes can hold
CONTAINERS = ("record", "array", "map")
ANY_KEY = "<key>"  # a map key no rule names literally: the key the check gives `otherwise` and wildcards
_SEGMENT = re.compile(r"\.|\[\*\]")


def _kind(branch) -> str:
    return branch if isinstance(branch, str) else branch["type"]


def _holds(branch) -> tuple[str, ...]:
    """The actions one resolved, non-union type can take besides drop: text actions for a string or
    bytes, the same size for a fixed, keep for the rest (numbers, booleans, enums, containers and
    every logical type, whose masked text would not be a valid value); anything for null, which stays null."""
    kind = _kind(branch)
    if kind == "null":
        return ACTIONS
    if isinstance(branch, dict) and "logicalType" in branch:
        return ("keep",)
    return TEXT_ACTIONS if kind in ("string", "bytes") else ("keep", "redact_same_size") if kind == "fixed" else ("keep",)


def _parsed(schemas: list[dict]) -> dict:
    """The last schema parsed by fastavro with the named types of those before it (its references)."""
    named: dict = {}
    for schema in schemas[:-1]:
        fastavro.parse_schema(schema, named)
    return fastavro.parse_schema(schemas[-1], named)


def _stored_types(node):
    """An Avro schema's JSON with every logicalType removed: the same binary encoding, read as stored."""
    if isinstance(node, list):
        return [_stored_types(n) for n in node]
    if isinstance(node, dict):
        return {k: _stored_types(v) for k, v in node.items() if k != "logicalType"}
    return node


class AvroSchema:
    """One stored Avro schema: parsed with its logical types (what the check judges) and without
    them (what values are read and written with)."""

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        texts = [json.loads(s.schema) for s in (*referenced(schema, schemas), schema)]
        try:
            self.typed = _parsed(texts)
            self.stored = _parsed([_stored_types(t) for t in texts])
        except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds for a schema it rejects
            raise DatasetError(f"stored schema {schema.id}: not a valid Avro schema ({exc})") from None
        self.id = schema.id
        self.named = self.typed["__named_schemas"]

    def masked(self, data: bytes, rules: TopicRules, masker: Masker) -> bytes | None:
        """The framed value with its fields masked, behind the same frame; a payload that does not
        decode exactly is masked whole by `otherwise`, or redacted where that is keep (never kept raw)."""
        stream = io.BytesIO(data)
        stream.seek(PREFIX)
        try:  # a named type of a union with several comes as (name, value): written back to the same branch
            decoded = fastavro.schemaless_reader(stream, self.stored, None, return_named_type=True,
                                                 return_named_type_override=True)
            corrupt = stream.tell() != len(data)
        except Exception:  # noqa: BLE001 - fastavro raises many kinds for a corrupt payload
            corrupt = True
        if corrupt:
            return masker.bytes_value(data, "redact" if rules.otherwise == "keep" else rules.otherwise)
        if rules.path_action("$") == "drop":
            return None
        out = io.BytesIO()
        out.write(data[:PREFIX])
        fastavro.schemaless_writer(out, self.stored, masker.walk_avro(decoded, "$", rules))
        return out.getvalue()

    def check(self, rules: TopicRules) -> None:
        """UsageError for the first rule, or `otherwise`, that reaches a field whose type cannot hold
        its action. Map keys are the names rules write (and one no rule names); a recursive record is
        followed as deep as the longest rule path reaches."""
        segments = [_SEGMENT.split(pattern) for pattern, _ in rules.paths]
        keys = sorted({s for parts in segments for s in parts} - {"", "$"} | {ANY_KEY})
        self._check(self.typed, "$", rules, keys, max(map(len, segments), default=1), ())

    def _check(self, node, path: str, rules: TopicRules, keys: list[str], depth: int, records: tuple[str, ...]) -> None:
        branches = [self.named.get(b, b) if isinstance(b, str) else b for b in (node if isinstance(node, list) else [node])]
        action = rules.path_action(path)
        if action is not None:
            return self._require(action, node, branches, path, rules.topic, from_otherwise=False)
        for branch in branches:
            kind = _kind(branch)
            if kind == "record" and records.count(branch["name"]) < depth:
                for f in branch["fields"]:
                    self._check(f["type"], f"{path}.{f['name']}", rules, keys, depth, records + (branch["name"],))
            elif kind == "array":
                self._check(branch["items"], rules.member(path, "[*]")[0], rules, keys, depth, records)
            elif kind == "map":
                for key in keys:
                    self._check(branch["values"], f"{path}.{key}", rules, keys, depth, records)
        leaves = [b for b in branches if _kind(b) not in CONTAINERS]
        if leaves:
            self._require(rules.otherwise, node, leaves, path, rules.topic, from_otherwise=True)

    def _require(self, action: str, node, branches: list, path: str, topic: str, *, from_otherwise: bool) -> None:
        """`drop` needs null in the union (or the whole value, `$`: it becomes null); the others need
        every branch to hold them."""
        nullable = path == "$" or any(_kind(b) == "null" for b in branches)
        allowed = [a for a in ACTIONS if (nullable if a == "drop" else all(a in _holds(b) for b in branches))]
        if action not in allowed:
            raise UsageError(f"mask rules, topic {topic}: {path} is Avro {_avro_type(node)} (schema id {self.id}), "
                             f"which allows {', '.join(allowed)}, not {action}{' (otherwise)' if from_otherwise else ''}")


class AvroValues:
    """The dataset's stored Avro schemas, each parsed when a value first names it."""

    def __init__(self, schemas: dict[int, StoredSchema]):
        self.schemas = schemas
        self._parsed: dict[int, AvroSchema] = {}

    def schema(self, schema_id: int) -> AvroSchema | None:
        stored = self.schemas.get(schema_id)
        if stored is None or stored.schema_type != "AVRO":
            return None
        if schema_id not in self._parsed:
            self._parsed[schema_id] = AvroSchema(stored, self.schemas)
        return self._parsed[schema_id]

    def check_dataset(self, root: Path, manifests: list[Manifest], masker: Masker) -> None:
        """Check each topic's field rules against every Avro schema its values name (their ids read
        from the value columns once), before anything is written."""
        if not any(s.schema_type == "AVRO" for s in self.schemas.values()):
            return
        checked: set[tuple[str, int]] = set()
        for manifest in manifests:
            for part in manifest.partitions:
                rules = masker.topic(part.topic)
                if not rules.paths or rules.value is not None:
                    continue
                for entry in part.files:
                    values = pq.read_table(root / entry.path, columns=["value"]).column("value").combine_chunks()
                    for schema_id in sorted(set(frames(values)[1].tolist()) - {-1}):
                        schema = self.schema(schema_id)
                        if schema is not None and (part.topic, schema_id) not in checked:
                            schema.check(rules)
                            checked.add((part.topic, schema_id))

    def mask(self, column: pa.ChunkedArray, rules: TopicRules, masker: Masker) -> list[bytes | None]:
        """A value column under field rules: framed Avro values of a stored schema by field, the rest
        as `Masker.value` masks them."""
        values = column.combine_chunks()
        ids = frames(values)[1].tolist()
        masked = []
        for data, schema_id in zip(values.to_pylist(), ids):
            schema = self.schema(schema_id) if schema_id >= 0 else None
            masked.append(schema.masked(data, rules, masker) if schema is not None else masker.value(data, rules))
        return masked
