"""Avro values masked field by field (docs/sharing.md, "Avro fields"), for `evkit mask` (mask_framed.py
holds what Avro and Protobuf share): a value framed by a stored Avro schema (magic byte 0, the 4-byte
schema id) is decoded with fastavro, walked with the topic's `$` rules (`Masker.walk_avro`, the JSON
walk's rule lookup) and re-encoded with the same writer schema behind the same 5 bytes. Logical types
are read and written as their stored type (a long, bytes), so what is kept is written back as it was read.

Before anything is written, `AvroSchema.check` holds each rule (and `otherwise`) that reaches a field
against what the field's type can hold; a UsageError names the first that cannot. The dump never
imports this module: at dump time the schemas are not stored yet (Masker refuses framed values there).
"""
from __future__ import annotations

import io
import json

import fastavro

from ..analysis.decoders.framing import PREFIX
from ..errors import DatasetError
from ..schemas.compat import _avro_type
from ..schemas.store import StoredSchema, referenced
from .mask import ACTIONS, Masker, TopicRules
from .mask_framed import TEXT_ACTIONS, CorruptPayload, FramedSchema, rule_names

CONTAINERS = ("record", "array", "map")


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


class AvroSchema(FramedSchema):
    """One stored Avro schema: parsed with its logical types (what the check judges) and without
    them (what values are read and written with)."""

    format = "Avro"

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        texts = [json.loads(s.schema) for s in (*referenced(schema, schemas), schema)]
        try:
            self.typed = _parsed(texts)
            self.stored = _parsed([_stored_types(t) for t in texts])
        except Exception as exc:  # noqa: BLE001 - fastavro raises several kinds for a schema it rejects
            raise DatasetError(f"stored schema {schema.id}: not a valid Avro schema ({exc})") from None
        self.id = schema.id
        self.named = self.typed["__named_schemas"]

    def decoded(self, data: bytes) -> tuple[int, object]:
        """A named type of a union with several comes as (name, value): written back to the same branch."""
        stream = io.BytesIO(data)
        stream.seek(PREFIX)
        try:
            decoded = fastavro.schemaless_reader(stream, self.stored, None, return_named_type=True,
                                                 return_named_type_override=True)
        except Exception:  # noqa: BLE001 - fastavro raises many kinds for a corrupt payload
            raise CorruptPayload from None
        if stream.tell() != len(data):  # bytes left over
            raise CorruptPayload
        return PREFIX, decoded

    def encoded(self, decoded, rules: TopicRules, masker: Masker) -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, self.stored, masker.walk_avro(decoded, "$", rules))
        return out.getvalue()

    def check(self, rules: TopicRules, variant: tuple = ()) -> None:
        """Map keys are the names rules write (and one no rule names); a recursive record is followed
        as deep as the longest rule path reaches."""
        keys, depth = rule_names(rules)
        self._check(self.typed, "$", rules, keys, depth, ())

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
        self.require(action, allowed, path, _avro_type(node), topic, from_otherwise=from_otherwise)

