"""`avro`: values framed by a Schema Registry (magic byte 0, schema id) with an Avro payload.

Fast path: the framed values of one schema id (a zero-copy slice of a batch grouped by schema id)
are read as one Avro object-container block by polars-avro (Arrow-native, the GIL released), built
with one copy of their bytes. The writer schema of that block is a record of a 5-byte `fixed` (the
frame) followed by the schema itself, so the values' bytes are used as stored, prefixes included,
and every decoded frame must equal the expected one: a corrupt value shifts the frames after it.
A block that fails that test is read value by value with fastavro to find the corrupt values.
Logical types come out as Arrow types (timestamp-millis/micros: UTC timestamps, local-timestamp-*:
naive, decimal, date, time); uuid is read as its text.

Slow path: Arrow has no type polars-avro can give a union of two or more non-null branches (a
`["null", Card, Transfer]`), and polars-avro panics on one. Values of such a schema (or of any
schema polars-avro panics on) are read by fastavro one by one and handed on as the JSON text that
DuckDB's `to_json` makes of the fast path's Arrow values: the branch's value itself (a record as
its fields, so `$.method.iban` reads the Transfer's iban), bytes as DuckDB prints a BLOB,
timestamps and dates as DuckDB prints them.
"""
from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import os
import uuid

import fastavro
import numpy as np
import polars_avro
import pyarrow as pa
import pyarrow.compute as pc

from ...schemas.store import StoredSchema, referenced
from .framing import PREFIX, Decoded, concatenated, plain_type, zigzag

_INTERNAL = ("__fastavro_parsed", "__named_schemas")
_CORRUPT = object()  # what _decoded returns for a payload that does not decode


def _clean(schema):
    """fastavro's expanded schema as plain Avro JSON: its own keys removed and `uuid` read as text
    (polars-avro would return the 16 bytes)."""
    if isinstance(schema, list):
        return [_clean(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    cleaned = {k: _clean(v) for k, v in schema.items() if k not in _INTERNAL}
    if cleaned.get("logicalType") == "uuid":
        cleaned.pop("logicalType")
    return cleaned


def _polars_reads(schema) -> bool:
    """False if the expanded schema holds a union of two or more non-null branches anywhere."""
    if isinstance(schema, list):
        return sum(branch != "null" for branch in schema) < 2 and all(_polars_reads(b) for b in schema)
    if not isinstance(schema, dict):
        return True
    kind = schema.get("type")
    if kind == "record":
        return all(_polars_reads(f["type"]) for f in schema["fields"])
    if kind == "array":
        return _polars_reads(schema["items"])
    if kind == "map":
        return _polars_reads(schema["values"])
    return _polars_reads(kind) if isinstance(kind, (list, dict)) else True


def _blob_text(data: bytes) -> str:
    """Bytes as DuckDB prints a BLOB: printable ASCII as is, every other byte as \\xHH."""
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in data)


def _clock_text(text: str) -> str:
    """A time of day with its fraction's trailing zeros cut, as DuckDB prints it."""
    return text.rstrip("0").rstrip(".") if "." in text else text


def _plain(value):
    """A fastavro value as the JSON-ready value DuckDB's to_json gives the fast path's Arrow value."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return _blob_text(value)
    if isinstance(value, dt.datetime):
        naive = value.replace(tzinfo=None)
        text = f"{naive.date()} {_clock_text(naive.time().isoformat())}"
        return text if value.tzinfo is None else text + "+00"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _clock_text(value.isoformat())
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class Reader:
    """Decodes the framed values of one Avro schema into an Arrow array (a struct for a record), or
    into their JSON text where polars-avro cannot read the schema (`json_text`)."""

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        named: dict = {}
        for ref in referenced(schema, schemas):
            fastavro.parse_schema(json.loads(ref.schema), named)
        writer = json.loads(schema.schema)
        self.parsed = fastavro.parse_schema(writer, dict(named))
        expanded = _clean(fastavro.parse_schema(writer, dict(named), expand=True))
        self.json_text = not _polars_reads(expanded)
        framed = {"type": "record", "name": "evkit_framed_value", "fields": [
            {"name": "frame", "type": {"type": "fixed", "name": "evkit_frame", "size": PREFIX}},
            {"name": "value", "type": expanded}]}
        self.frame = b"\x00" + schema.id.to_bytes(4, "big")
        self.sync = os.urandom(16)
        text = json.dumps(framed).encode()
        self.header = (b"Obj\x01" + zigzag(2) + zigzag(11) + b"avro.schema" + zigzag(len(text)) + text
                       + zigzag(10) + b"avro.codec" + zigzag(4) + b"null" + b"\x00" + self.sync)

    def _block(self, values: pa.Array) -> pa.Array | None:
        """All values through polars-avro, or None if any does not decode exactly. The first value
        is appended again, so that trailing bytes of the last one show as a wrong frame too."""
        data, first = concatenated(values), concatenated(values.slice(0, 1))
        count = len(values) + 1
        container = b"".join([self.header, zigzag(count), zigzag(data.size + first.size), data, first, self.sync])
        try:
            table = polars_avro.read_avro(io.BytesIO(container), batch_size=count)
        except Exception:  # noqa: BLE001 - any error of the reader means: find the bad values one by one
            return None
        except BaseException as exc:  # a Rust panic (pyo3's PanicException): a schema it cannot read
            if type(exc).__name__ != "PanicException":
                raise
            self.json_text = True
            return None
        if table.height != count:
            return None
        frames = table.get_column("frame").to_arrow()
        if not pc.all(pc.equal(frames, pa.scalar(self.frame, frames.type))).as_py():
            return None
        value = table.get_column("value").head(len(values)).to_arrow()
        value = value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
        plain = plain_type(value.type)
        return value if plain == value.type else value.cast(plain)

    def _decoded(self, value: bytes):
        """The value as fastavro reads it, or _CORRUPT if it does not decode exactly."""
        stream = io.BytesIO(value)
        stream.seek(PREFIX)
        try:
            record = fastavro.schemaless_reader(stream, self.parsed, None)
        except Exception:  # noqa: BLE001 - fastavro raises many kinds for a corrupt payload
            return _CORRUPT
        return record if stream.tell() == len(value) else _CORRUPT

    def _json_texts(self, values: pa.Array) -> Decoded:
        texts, good, failed = [], [], []
        for row, value in enumerate(values.to_pylist()):
            record = self._decoded(value)
            if record is _CORRUPT:
                failed.append(row)
            else:
                texts.append(json.dumps(_plain(record), ensure_ascii=False, separators=(",", ":")))
                good.append(row)
        return Decoded([("", np.array(good, np.int64), pa.array(texts, pa.string()))] if good else [], failed)

    def read(self, values: pa.Array) -> Decoded:
        decoded = None if self.json_text else self._block(values)
        if decoded is not None:
            return Decoded([("", np.arange(len(values)), decoded)])
        if self.json_text:  # a schema polars-avro cannot read (found before, or by its panic just now)
            return self._json_texts(values)
        good = np.array([self._decoded(v) is not _CORRUPT for v in values.to_pylist()], bool)
        indices = np.flatnonzero(good)
        result = Decoded(failed=np.flatnonzero(~good).tolist())
        if len(indices):
            decoded = self._block(values.take(indices))
            if decoded is None:
                return Decoded(failed=list(range(len(values))))
            result.variants.append(("", indices, decoded))
        return result
