"""What changed between two schemas of one subject, and the compatibility verdict in the Schema
Registry's terms (docs/analysis.md, "schema_drift"): BACKWARD (the new schema reads data written with
the old one), FORWARD (the old schema reads data written with the new one), FULL (both), NONE.

Pure Python over schema texts, no registry: Avro by its schema-resolution rules, JSON Schema by
whether every value the writer's schema accepts is accepted by the reader's (as Confluent's checker
judges it: a property added to an open content model breaks it), Protobuf by field numbers and
types, from `.proto` text or a base64 FileDescriptorProto, as Apicurio Registry judges it (a field
number may not disappear, change its type or name: adding a field is BACKWARD, removing one FORWARD;
Confluent's registry calls both compatible). Not modelled: Avro aliases, JSON Schema
keywords beyond type/properties/required/additionalProperties/items/enum, schema references (a
referenced type compares by its name).
"""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import DatasetError
from .store import StoredSchema, load_schemas

VERDICTS = ("FULL", "BACKWARD", "FORWARD", "NONE")


@dataclass(frozen=True)
class Comparison:
    """The changes from one schema to the next (dicts: path, change, from, to) and the verdict."""

    changes: list[dict]
    compatibility: str


def compare(schema_type: str, old: str, new: str) -> Comparison:
    """Compare two schema texts of one type ("AVRO", "JSON", "PROTOBUF"); DatasetError for a text
    that is not a schema of that type."""
    try:
        flatten, can_read, parse = _KINDS[schema_type]
    except KeyError:
        raise DatasetError(f"schema type {schema_type!r} is not one of AVRO, JSON, PROTOBUF") from None
    try:
        before, after = parse(old), parse(new)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise DatasetError(f"not a valid {schema_type} schema ({exc})") from None
    backward, forward = can_read(after, before), can_read(before, after)
    verdict = "FULL" if backward and forward else "BACKWARD" if backward else "FORWARD" if forward else "NONE"
    return Comparison(_diff(flatten(before), flatten(after)), verdict)


def _diff(old: dict[str, tuple[str, bool]], new: dict[str, tuple[str, bool]]) -> list[dict]:
    """Paths -> (type, may be absent) of two schemas as changes; children of an added or removed
    path are left out. An added path that must be present (no default, required) is default_missing."""
    changes = []
    for path in sorted(old.keys() | new.keys()):
        parent = _parent(path)
        if path not in old:
            if parent in new and parent not in old:
                continue
            kind = "added" if new[path][1] else "default_missing"
            changes.append({"path": path, "change": kind, "from": None, "to": new[path][0]})
        elif path not in new:
            if parent in old and parent not in new:
                continue
            changes.append({"path": path, "change": "removed", "from": old[path][0], "to": None})
        elif old[path][0] != new[path][0]:
            changes.append({"path": path, "change": "type_changed", "from": old[path][0], "to": new[path][0]})
    return changes


def _parent(path: str) -> str:
    return re.sub(r"(\.[^.\[\]{}]+|\[\*\]|\{\*\})$", "", path)


# --- Avro --------------------------------------------------------------------------------------

_PROMOTIONS = {"int": {"long", "float", "double"}, "long": {"float", "double"}, "float": {"double"},
               "string": {"bytes"}, "bytes": {"string"}}
_AVRO_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def _avro_parse(text: str):
    """The schema with every named type defined inline replaced by one shared dict, names resolved."""
    named: dict[str, dict] = {}

    def walk(node, namespace):
        if isinstance(node, str):
            if node in _AVRO_PRIMITIVES:
                return node
            full = node if "." in node else f"{namespace}.{node}" if namespace else node
            return named.get(full) or named.get(node) or {"type": "named", "name": node.rsplit(".", 1)[-1]}
        if isinstance(node, list):
            return [walk(branch, namespace) for branch in node]
        kind = node["type"]
        if kind in ("record", "error", "enum", "fixed"):
            name = node["name"]
            space = node.get("namespace", namespace) if "." not in name else name.rsplit(".", 1)[0]
            full = name if "." in name else f"{space}.{name}" if space else name
            out = {**node, "type": "record" if kind == "error" else kind, "name": name.rsplit(".", 1)[-1]}
            named[full] = out
            if kind in ("record", "error"):
                out["fields"] = [{**f, "type": walk(f["type"], space)} for f in node["fields"]]
            return out
        if kind == "array":
            return {**node, "items": walk(node["items"], namespace)}
        if kind == "map":
            return {**node, "values": walk(node["values"], namespace)}
        if isinstance(kind, (dict, list)) or kind not in _AVRO_PRIMITIVES:
            return walk(kind, namespace)
        return {**node, "type": kind}  # a primitive with attributes (logicalType)

    return walk(json.loads(text), None)


def _avro_kind(node) -> str:
    return node if isinstance(node, str) else "union" if isinstance(node, list) else node["type"]


def _avro_type(node) -> str:
    """A readable type: int, long(timestamp-millis), Bet, enum Side{BACK,LAY}, array<string>, null|string."""
    kind = _avro_kind(node)
    if kind == "union":
        return "|".join(_avro_type(branch) for branch in node)
    if isinstance(node, str):
        return node
    if kind in ("record", "named"):
        return node["name"]
    if kind == "enum":
        return f"enum {node['name']}{{{','.join(node['symbols'])}}}"
    if kind == "fixed":
        return f"fixed {node['name']}({node['size']})"
    if kind == "array":
        return f"array<{_avro_type(node['items'])}>"
    if kind == "map":
        return f"map<{_avro_type(node['values'])}>"
    return f"{kind}({node['logicalType']})" if "logicalType" in node else kind


def _avro_flatten(node, path: str = "$", out: dict | None = None, seen: frozenset = frozenset()) -> dict:
    out = {} if out is None else out
    kind = _avro_kind(node)
    if kind == "union":
        for branch in node:
            _avro_flatten(branch, path, out, seen)
    elif kind == "record" and id(node) not in seen:
        for f in node["fields"]:
            child = f"{path}.{f['name']}"
            out[child] = (_avro_type(f["type"]), "default" in f)
            _avro_flatten(f["type"], child, out, seen | {id(node)})
    elif kind == "array":
        _avro_flatten(node["items"], f"{path}[*]", out, seen)
    elif kind == "map":
        _avro_flatten(node["values"], f"{path}{{*}}", out, seen)
    return out


def _avro_can_read(reader, writer, busy: set | None = None) -> bool:
    """Avro schema resolution: can `reader` read what `writer` wrote."""
    busy = set() if busy is None else busy
    if (id(reader), id(writer)) in busy:  # a recursive type: assume yes while it is being checked
        return True
    rk, wk = _avro_kind(reader), _avro_kind(writer)
    if wk == "union":
        return all(_avro_can_read(reader, branch, busy) for branch in writer)
    if rk == "union":
        return any(_avro_can_read(branch, writer, busy) for branch in reader)
    if rk in _AVRO_PRIMITIVES or wk in _AVRO_PRIMITIVES:
        return rk == wk or rk in _PROMOTIONS.get(wk, ())
    if rk != wk or reader.get("name") != writer.get("name"):
        return False
    busy.add((id(reader), id(writer)))
    if rk == "record":
        fields = {f["name"]: f for f in writer["fields"]}
        return all(_avro_can_read(f["type"], fields[f["name"]]["type"], busy) if f["name"] in fields else "default" in f
                   for f in reader["fields"])
    if rk == "enum":
        return set(writer["symbols"]) <= set(reader["symbols"]) or "default" in reader
    if rk == "fixed":
        return reader["size"] == writer["size"]
    if rk == "array":
        return _avro_can_read(reader["items"], writer["items"], busy)
    if rk == "map":
        return _avro_can_read(reader["values"], writer["values"], busy)
    return True  # the same named type from another schema: compared by name


# --- JSON Schema -------------------------------------------------------------------------------

def _json_parse(text: str) -> dict:
    schema = json.loads(text)
    if not isinstance(schema, (dict, bool)):
        raise ValueError("a JSON Schema is an object")
    return schema if isinstance(schema, dict) else {}


def _json_types(node: dict) -> set[str] | None:
    kind = node.get("type")
    if kind is None:
        return None  # any type
    return set(kind) if isinstance(kind, list) else {kind}


def _json_type(node: dict) -> str:
    types = _json_types(node)
    if types is None:
        return "any"
    if types == {"array"} and isinstance(node.get("items"), dict):
        return f"array<{_json_type(node['items'])}>"
    return "|".join(sorted(types)) + (f"{{{','.join(map(json.dumps, node['enum']))}}}" if "enum" in node else "")


def _json_flatten(node: dict, path: str = "$", out: dict | None = None) -> dict:
    out = {} if out is None else out
    required = set(node.get("required") or ())
    for name, child in (node.get("properties") or {}).items():
        child = child if isinstance(child, dict) else {}
        out[f"{path}.{name}"] = (_json_type(child), name not in required or "default" in child)
        _json_flatten(child, f"{path}.{name}", out)
    if isinstance(node.get("items"), dict):
        _json_flatten(node["items"], f"{path}[*]", out)
    return out


def _json_can_read(reader: dict, writer: dict) -> bool:
    """Does `reader` accept every value `writer` accepts (as far as the modelled keywords tell)."""
    rt, wt = _json_types(reader), _json_types(writer)
    if rt is not None and (wt is None or not all(t in rt or t == "integer" and "number" in rt for t in wt)):
        return False
    if "enum" in reader and not set(map(json.dumps, writer.get("enum", [object]))) <= set(map(json.dumps, reader["enum"])):
        return False
    if not set(reader.get("required") or ()) <= set(writer.get("required") or ()):
        return False
    r_props, w_props = reader.get("properties") or {}, writer.get("properties") or {}
    w_open = writer.get("additionalProperties", True) is not False
    for name, schema in r_props.items():
        if name in w_props:
            if not _json_can_read(schema if isinstance(schema, dict) else {},
                                  w_props[name] if isinstance(w_props[name], dict) else {}):
                return False
        elif w_open and schema not in ({}, True):  # the writer's values may carry it with any type
            return False
    if reader.get("additionalProperties", True) is False and not set(w_props) <= set(r_props):
        return False
    if isinstance(reader.get("items"), dict) and isinstance(writer.get("items"), dict):
        return _json_can_read(reader["items"], writer["items"])
    return True


# --- Protobuf ----------------------------------------------------------------------------------

_PROTO_FIELD = re.compile(r"^\s*(optional\s+|required\s+|repeated\s+)?(map\s*<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*(\d+)")
_DESCRIPTOR_TYPES = {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
                     8: "bool", 9: "string", 10: "group", 11: "message", 12: "bytes", 13: "uint32", 14: "enum",
                     15: "sfixed32", 16: "sfixed64", 17: "sint32", 18: "sint64"}


def _proto_parse(text: str) -> dict[str, tuple[str, str, str]]:
    """'Message.number' -> (field name, type, label) of every message (nested ones as Outer.Inner)."""
    try:
        return _proto_descriptor(base64.b64decode(text, validate=True))
    except ValueError:
        pass
    fields: dict[str, tuple[str, str, str]] = {}
    stack: list[str | None] = []
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    for line in re.split(r"(?<=[;{}])", text):
        block = re.match(r"\s*(message|enum|oneof|service|extend)\s+(\w+)\s*\{", line)
        if block:
            stack.append(block.group(2) if block.group(1) == "message" else "" if block.group(1) == "oneof" else None)
            continue
        if line.strip() == "}" or line.strip().endswith("}") and not line.strip().startswith(("option", "reserved")):
            if stack:
                stack.pop()
            continue
        messages = [s for s in stack if s]
        if not messages or None in stack:
            continue
        match = _PROTO_FIELD.match(line)
        if match and not line.lstrip().startswith(("option", "reserved", "syntax", "package", "import")):
            label = (match.group(1) or "").strip() or "optional"
            fields[f"{'.'.join(messages)}.{match.group(4)}"] = (match.group(3), re.sub(r"\s+", "", match.group(2)), label)
    if not fields and "message" not in text:
        raise ValueError("no message in the .proto text")
    return fields


def _proto_descriptor(data: bytes) -> dict[str, tuple[str, str, str]]:
    from google.protobuf import descriptor_pb2
    from google.protobuf.message import DecodeError

    proto = descriptor_pb2.FileDescriptorProto()
    try:
        proto.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(str(exc)) from None
    if not proto.message_type:
        raise ValueError("no message in the descriptor")
    fields: dict[str, tuple[str, str, str]] = {}
    labels = {1: "optional", 2: "required", 3: "repeated"}

    def visit(message, prefix: str) -> None:
        for f in message.field:
            kind = f.type_name.rsplit(".", 1)[-1] if f.type in (11, 14) else _DESCRIPTOR_TYPES[f.type]
            fields[f"{prefix}{message.name}.{f.number}"] = (f.name, kind, labels.get(f.label, "optional"))
        for nested in message.nested_type:
            if not nested.options.map_entry:
                visit(nested, f"{prefix}{message.name}.")

    for message in proto.message_type:
        visit(message, "")
    return fields


def _proto_flatten(fields: dict[str, tuple[str, str, str]]) -> dict[str, tuple[str, bool]]:
    return {f"$.{key}": (f"{label} {kind}" if label != "optional" else kind, label != "required")
            for key, (_, kind, label) in fields.items()}


def _proto_can_read(reader: dict, writer: dict) -> bool:
    """As Apicurio judges it: every field number of the writer is still in the reader, with its name,
    type and label (a number that disappears, even one the reader reserves, breaks it)."""
    return all(reader.get(key) == field for key, field in writer.items())


_KINDS: dict[str, tuple[Callable, Callable, Callable]] = {
    "AVRO": (_avro_flatten, _avro_can_read, _avro_parse),
    "JSON": (_json_flatten, _json_can_read, _json_parse),
    "PROTOBUF": (_proto_flatten, _proto_can_read, _proto_parse),
}


# --- the schema_drift check's hook -------------------------------------------------------------

def subject_changes(schemas: dict[int, StoredSchema]) -> list[dict]:
    """For each stored schema with an earlier stored version of its subject: the comparison with that
    previous version (schema_id, subject, previous_id, changes, compatibility)."""
    rows = []
    by_subject: dict[str, list[StoredSchema]] = {}
    for schema in schemas.values():
        if schema.subject is not None:
            by_subject.setdefault(schema.subject, []).append(schema)
    for subject, versions in sorted(by_subject.items()):
        versions.sort(key=lambda s: (s.version if s.version is not None else s.id, s.id))
        for previous, schema in zip(versions, versions[1:]):
            if previous.schema_type != schema.schema_type:
                rows.append({"schema_id": schema.id, "subject": subject, "previous_id": previous.id,
                             "changes": [{"path": "$", "change": "type_changed", "from": previous.schema_type,
                                          "to": schema.schema_type}], "compatibility": "NONE"})
                continue
            found = compare(schema.schema_type, previous.schema, schema.schema)
            rows.append({"schema_id": schema.id, "subject": subject, "previous_id": previous.id,
                         "changes": found.changes, "compatibility": found.compatibility})
    return rows


def register_schema_changes(con) -> None:
    """The table `schema_drift_compat` on an analysis connection: subject_changes() of the schemas
    stored in every dataset of the session (none: an empty table)."""
    import pyarrow as pa

    schemas: dict[int, StoredSchema] = {}
    for (root,) in con.execute("SELECT DISTINCT dataset FROM manifests ORDER BY dataset").fetchall():
        schemas.update(load_schemas(root))
    change = pa.struct([("path", pa.string()), ("change", pa.string()), ("from", pa.string()), ("to", pa.string())])
    table = pa.Table.from_pylist(subject_changes(schemas), schema=pa.schema([
        ("schema_id", pa.int64()), ("subject", pa.string()), ("previous_id", pa.int64()),
        ("changes", pa.list_(change)), ("compatibility", pa.string())]))
    con.register("schema_drift_compat_arrow", table)
    con.execute("CREATE OR REPLACE TABLE schema_drift_compat AS SELECT * FROM schema_drift_compat_arrow")
    con.unregister("schema_drift_compat_arrow")
