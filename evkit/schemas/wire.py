"""Which registry schemas a batch of records names, counted with Arrow compute and NumPy over the
Arrow buffers (no Python per record).

The framings (docs/schema-registry.md), in the order a deserializer looks at them:

* a `__key_schema_id` / `__value_schema_id` header (confluent-kafka's header mode): magic byte 0 and
  a 4-byte id, or magic byte 1 and a 16-byte GUID; the key or value is then the bare payload;
* an `apicurio.key.contentId` / `apicurio.value.contentId` header (Apicurio's serdes with headers on):
  an 8-byte big-endian id, the id the Confluent-compatible API serves; `apicurio.*.globalId` is
  Apicurio's own version id, which that API cannot look up;
* a prefix: magic byte 0 and the 4-byte big-endian id (Protobuf then adds its message indexes), or
  magic byte 1 and a 16-byte GUID;
* anything else is plain.

Ids are counted under strings: `"12"` for a registry id, `"guid:<uuid>"`, `"apicurio-global:<n>"`.
The analysis derives the same per record in SQL (evkit/analysis/sql/wire.sql); a test holds the two equal.
"""
from __future__ import annotations

import uuid
from collections import Counter
from functools import cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

FIELDS = ("key", "value")
GUID_PREFIX = "guid:"
APICURIO_GLOBAL_PREFIX = "apicurio-global:"


def header_names(field: str) -> tuple[str, str, str]:
    """The headers that carry `field`'s schema id, strongest first."""
    return f"__{field}_schema_id", f"apicurio.{field}.contentId", f"apicurio.{field}.globalId"


_ID_HEADERS = tuple(name for field in FIELDS for name in header_names(field))
_ID_HEADER_FIRST_BYTES = np.array(sorted({name.encode()[0] for name in _ID_HEADERS}), np.uint8)


def schema_ids(table: pa.Table) -> dict[str, dict[str, int]]:
    """Records per schema id of the key and of the value of a record table (RECORD_SCHEMA columns
    `key`, `value`, `headers`): `{"key": {...}, "value": {"3": 120, "4": 7}}`, fields without ids left out."""
    headers = _one_chunk(table.column("headers"))
    flat = pc.list_flatten(headers)
    named = None  # the headers that name a schema, with the row each belongs to
    if _may_name_schemas(flat.field("key")):
        named = (flat, pc.list_parent_indices(headers).to_numpy())
    found = {}
    for field in FIELDS:
        counts = _field_ids(_one_chunk(table.column(field)), named, field)
        if counts:
            found[field] = dict(sorted(counts.items(), key=lambda item: _id_order(item[0])))
    return found


def merge_ids(total: dict[str, dict[str, int]], more: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    """Add the counts of `more` into `total` (both as `schema_ids` returns them); return `total`."""
    for field, counts in more.items():
        merged = Counter(total.get(field, {}))
        merged.update(counts)
        total[field] = dict(sorted(merged.items(), key=lambda item: _id_order(item[0])))
    return total


def registry_id(name: str) -> int | None:
    """The registry id an id string names (`"12"` -> 12), None for a GUID or an Apicurio global id."""
    return int(name) if name.isdigit() else None


def _id_order(name: str) -> tuple:
    return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


@cache
def _id_headers() -> pa.Array:
    """The schema-id header names as an Arrow array, built on first use: any `pa.array` call makes
    pyarrow import pandas, which a dump does not otherwise need (a fifth of its start-up)."""
    return pa.array(_ID_HEADERS, pa.string())


def _may_name_schemas(keys: pa.Array) -> bool:
    """True if a header name could be a schema-id header: its first byte, read from the buffers, is
    `_` or `a` and the name is one of them (most batches end at the first test)."""
    data = keys.buffers()[2] if len(keys) else None
    if data is None:
        return False
    offsets = np.frombuffer(keys.buffers()[1], np.int32, len(keys) + 1 + keys.offset)[keys.offset:]
    starts = offsets[:-1][np.diff(offsets) > 0]
    candidates = np.isin(np.frombuffer(data, np.uint8)[starts], _ID_HEADER_FIRST_BYTES)
    return bool(candidates.any()) and pc.any(pc.is_in(keys, value_set=_id_headers())).as_py()


def _field_ids(values: pa.Array, named: tuple | None, field: str) -> Counter:
    counts: Counter = Counter()
    claimed = np.zeros(len(values), bool)  # rows whose id came from a header: their bytes are the bare payload
    if named is not None:
        flat, parents = named
        keys, header_values = flat.field("key"), flat.field("value")
        for name in header_names(field):
            hit = pc.and_(pc.fill_null(pc.equal(keys, name), False), pc.is_valid(header_values))
            if not pc.any(hit).as_py():
                continue
            where = np.flatnonzero(hit.to_numpy(zero_copy_only=False))
            rows, first = np.unique(parents[where], return_index=True)  # the first such header of a row
            fresh = ~claimed[rows]
            claimed[rows] = True
            chosen = header_values.take(pa.array(where[first][fresh]))
            for item in pc.value_counts(chosen).to_pylist():
                name_of = _header_id(name, item["values"], field)
                if name_of is not None:
                    counts[name_of] += item["counts"]
    counts.update(_prefix_counts(values, claimed))
    return counts


def _prefix_counts(values: pa.Array, claimed: np.ndarray) -> Counter:
    """Ids of the magic-0 and magic-1 prefixes, read with NumPy straight from the Arrow buffers."""
    counts: Counter = Counter()
    data = values.buffers()[2] if len(values) else None
    if data is None:
        return counts
    width = np.int64 if pa.types.is_large_binary(values.type) else np.int32
    offsets = np.frombuffer(values.buffers()[1], width, len(values) + 1 + values.offset)[values.offset:]
    data = np.frombuffer(data, np.uint8)
    lengths = np.diff(offsets)
    framed = (lengths >= 5) & ~claimed
    if values.null_count:
        framed &= values.is_valid().to_numpy(zero_copy_only=False)
    starts = offsets[:-1][framed]
    first = data[starts]
    confluent = starts[first == 0]
    if len(confluent):
        ids = ((data[confluent + 1].astype(np.int64) << 24) | (data[confluent + 2].astype(np.int64) << 16)
               | (data[confluent + 3].astype(np.int64) << 8) | data[confluent + 4])
        for number, count in zip(*np.unique(ids, return_counts=True)):
            counts[str(int(number))] += int(count)
    guid = starts[(first == 1) & (lengths[framed] >= 17)]
    if len(guid):
        prefixes = data[guid[:, None] + np.arange(17)]
        for prefix, count in zip(*np.unique(prefixes, axis=0, return_counts=True)):
            counts[_prefix_id(prefix.tobytes())] += int(count)
    return counts


def _prefix_id(prefix: bytes) -> str:
    """The id string of a 5-byte (magic 0) or 17-byte (magic 1) prefix."""
    if prefix[0] == 0:
        return str(int.from_bytes(prefix[1:5], "big"))
    return GUID_PREFIX + str(uuid.UUID(bytes=prefix[1:17]))


def _header_id(name: str, value: bytes, field: str) -> str | None:
    """The id string a schema-id header holds; None for a value in no known encoding."""
    if name == f"__{field}_schema_id":
        if len(value) >= 5 and value[0] == 0 or len(value) >= 17 and value[0] == 1:
            return _prefix_id(value)
        return None
    if len(value) not in (4, 8):
        return None
    number = int.from_bytes(value, "big")
    return str(number) if name.endswith(".contentId") else f"{APICURIO_GLOBAL_PREFIX}{number}"
