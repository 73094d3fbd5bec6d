"""The record schema (one row per Kafka record) and the one builder of record tables."""
from __future__ import annotations

from itertools import accumulate, chain

import pyarrow as pa
import pyarrow.compute as pc

from .._text import key_utf8

HEADER_TYPE = pa.list_(pa.struct([pa.field("key", pa.string()), pa.field("value", pa.binary())]))

# One row per Kafka record. `key_text` is the key decoded as UTF-8 where it is valid UTF-8, else null.
RECORD_SCHEMA = pa.schema(
    [
        pa.field("topic", pa.string(), nullable=False),
        pa.field("partition", pa.int32(), nullable=False),
        pa.field("offset", pa.int64(), nullable=False),
        pa.field("timestamp", pa.timestamp("ms", tz="UTC")),
        pa.field("timestamp_type", pa.string()),
        pa.field("key", pa.binary()),
        pa.field("value", pa.binary()),
        pa.field("headers", HEADER_TYPE, nullable=False),
        pa.field("leader_epoch", pa.int32()),
        pa.field("key_size", pa.int32()),
        pa.field("value_size", pa.int32()),
        pa.field("key_text", pa.string()),
    ]
)


def record_table(*, topic, partition, offset, timestamp, timestamp_type, key, value, headers, leader_epoch) -> pa.Table:
    """A RECORD_SCHEMA table from its columns, each a list or an Arrow array; `headers` is a list of
    [(name, value), ...] lists (None: no headers) or a HEADER_TYPE array, `timestamp` epoch ms or datetimes. The derived
    columns (key_size, value_size, key_text) are computed here, for the dump and for write_records."""
    key, value = _array(key, pa.binary()), _array(value, pa.binary())
    return pa.Table.from_arrays(
        [_array(topic, pa.string()), _array(partition, pa.int32()), _array(offset, pa.int64()),
         _array(timestamp, RECORD_SCHEMA.field("timestamp").type), _array(timestamp_type, pa.string()), key, value,
         _array(headers, HEADER_TYPE) if isinstance(headers, (pa.Array, pa.ChunkedArray)) else headers_array(headers),
         _array(leader_epoch, pa.int32()), pc.binary_length(key).cast(pa.int32()),
         pc.binary_length(value).cast(pa.int32()), utf8_text(key)],
        schema=RECORD_SCHEMA,
    )


def records_table(rows: list[dict]) -> pa.Table:
    """A RECORD_SCHEMA table from dicts with topic, partition, offset, timestamp (epoch ms or
    datetime), key, value and optionally headers [(key, value)], timestamp_type, leader_epoch."""
    return record_table(
        topic=[r["topic"] for r in rows], partition=[r["partition"] for r in rows], offset=[r["offset"] for r in rows],
        timestamp=[r.get("timestamp") for r in rows], timestamp_type=[r.get("timestamp_type", "create") for r in rows],
        key=[r.get("key") for r in rows], value=[r.get("value") for r in rows],
        headers=[r.get("headers") for r in rows], leader_epoch=[r.get("leader_epoch") for r in rows],
    )


def _array(values, kind: pa.DataType) -> pa.Array:
    return values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, kind)


def headers_array(header_lists: list) -> pa.Array:
    """list<struct<key, value>> from header lists (None = no headers), order and repeats kept."""
    lengths = [len(h) if h else 0 for h in header_lists]
    flat = list(chain.from_iterable(filter(None, header_lists)))
    names, values = zip(*flat) if flat else ((), ())
    structs = pa.StructArray.from_arrays([pa.array(names, pa.string()), pa.array(values, pa.binary())],
                                         fields=list(HEADER_TYPE.value_type))
    offsets = pa.array([0, *accumulate(lengths)], pa.int32())
    return pa.ListArray.from_arrays(offsets, structs, type=HEADER_TYPE)


def utf8_text(binary: pa.Array) -> pa.Array:
    """The binary values as strings where they are valid UTF-8, else null."""
    try:
        return binary.cast(pa.string())
    except pa.ArrowInvalid:
        return pa.array([key_utf8(b) for b in binary.to_pylist()], pa.string())
