"""`avro`: values framed by a Schema Registry (magic byte 0, schema id) with an Avro payload.

Fast path: the framed values of one schema id (a zero-copy slice of a batch grouped by schema id)
are read as one Avro object-container block by polars-avro (Arrow-native, the GIL released), built
with one copy of their bytes. The writer schema of that block is a record of a 5-byte `fixed` (the
frame) followed by the schema itself, so the values' bytes are used as stored, prefixes included,
and every decoded frame must equal the expected one: a corrupt value shifts the frames after it.
A block that fails that test is read value by value with fastavro to find the corrupt values.
Logical types come out as Arrow types (timestamp-millis/micros: UTC timestamps, local-timestamp-*:
naive, decimal, date, time); uuid is read as its text.
"""
from __future__ import annotations

import io
import json
import os

import fastavro
import numpy as np
import polars_avro
import pyarrow as pa
import pyarrow.compute as pc

from ...schemas.store import StoredSchema, referenced
from .framing import PREFIX, Decoded, concatenated, plain_type, zigzag

_INTERNAL = ("__fastavro_parsed", "__named_schemas")


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


class Reader:
    """Decodes the framed values of one Avro schema into an Arrow array (a struct for a record)."""

    json_text = False

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        named: dict = {}
        for ref in referenced(schema, schemas):
            fastavro.parse_schema(json.loads(ref.schema), named)
        writer = json.loads(schema.schema)
        self.parsed = fastavro.parse_schema(writer, dict(named))
        expanded = _clean(fastavro.parse_schema(writer, dict(named), expand=True))
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
        if table.height != count:
            return None
        frames = table.get_column("frame").to_arrow()
        if not pc.all(pc.equal(frames, pa.scalar(self.frame, frames.type))).as_py():
            return None
        value = table.get_column("value").head(len(values)).to_arrow()
        value = value.combine_chunks() if isinstance(value, pa.ChunkedArray) else value
        plain = plain_type(value.type)
        return value if plain == value.type else value.cast(plain)

    def _decodes(self, value: bytes) -> bool:
        stream = io.BytesIO(value)
        stream.seek(PREFIX)
        try:
            fastavro.schemaless_reader(stream, self.parsed, None)
        except Exception:  # noqa: BLE001 - fastavro raises many kinds for a corrupt payload
            return False
        return stream.tell() == len(value)

    def read(self, values: pa.Array) -> Decoded:
        decoded = self._block(values)
        if decoded is not None:
            return Decoded([("", np.arange(len(values)), decoded)])
        good = np.array([self._decodes(v) for v in values.to_pylist()], bool)
        indices = np.flatnonzero(good)
        result = Decoded(failed=np.flatnonzero(~good).tolist())
        if len(indices):
            decoded = self._block(values.take(indices))
            if decoded is None:
                return Decoded(failed=list(range(len(values))))
            result.variants.append(("", indices, decoded))
        return result
