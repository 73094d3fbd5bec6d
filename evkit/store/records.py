"""The record schema (one row per Kafka record) and the one builder of record tables from rows."""
from __future__ import annotations

import pyarrow as pa

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


def utf8_or_none(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def records_table(rows: list[dict]) -> pa.Table:
    """Build a RECORD_SCHEMA table from dicts with topic, partition, offset, timestamp (epoch ms or
    datetime), key, value and optionally headers [(key, value)], timestamp_type, leader_epoch.

    The derived columns (key_size, value_size, key_text) are computed here.
    """
    columns: dict[str, list] = {field.name: [] for field in RECORD_SCHEMA}
    for row in rows:
        key, value = row.get("key"), row.get("value")
        columns["topic"].append(row["topic"])
        columns["partition"].append(row["partition"])
        columns["offset"].append(row["offset"])
        columns["timestamp"].append(row.get("timestamp"))
        columns["timestamp_type"].append(row.get("timestamp_type", "create"))
        columns["key"].append(key)
        columns["value"].append(value)
        columns["headers"].append([{"key": k, "value": v} for k, v in row.get("headers") or ()])
        columns["leader_epoch"].append(row.get("leader_epoch"))
        columns["key_size"].append(None if key is None else len(key))
        columns["value_size"].append(None if value is None else len(value))
        columns["key_text"].append(utf8_or_none(key))
    return pa.Table.from_pydict(columns, schema=RECORD_SCHEMA)


