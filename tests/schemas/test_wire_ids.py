"""The schema ids a record table names, counted with Arrow (evkit/schemas/wire.py), on hand-made framings
the serializers of the broker tests do not write; and their way from a dump worker to the manifest."""
from __future__ import annotations

import json
import uuid
from importlib import resources

import duckdb
import pyarrow as pa

from evkit.schemas.wire import merge_ids, schema_ids
from evkit.store.manifest import CommittedFile, FileEntry
from evkit.store.records import record_table

GUID = uuid.UUID("0123456789abcdef0123456789abcdef")


def table(rows: list[tuple]) -> pa.Table:  # rows of (key, value, headers)
    n = len(rows)
    return record_table(topic=["t"] * n, partition=[0] * n, offset=list(range(n)), timestamp=[0] * n,
                        timestamp_type=["create"] * n, key=[r[0] for r in rows], value=[r[1] for r in rows],
                        headers=[r[2] for r in rows], leader_epoch=[None] * n)


def test_every_framing_is_counted_once_per_record_headers_first():
    rows = [
        (None, b"\x00\x00\x00\x00\x07{}", None),                          # prefix id 7
        (b"\x00\x00\x00\x00\x03k", b"\x00\x00\x00\x00\x07\x00\x02", None),  # key id 3, value id 7 (Protobuf indexes)
        (None, b"\x01" + GUID.bytes + b"x", None),                        # GUID prefix
        (None, b"\x00\x00\x00\x00\x07", [("__value_schema_id", b"\x00\x00\x00\x00\x09"),
                                          ("__value_schema_id", b"\x00\x00\x00\x00\x0a")]),  # the first header wins
        (None, b"\x00\x00\x00\x00\x07", [("__value_schema_id", None), ("apicurio.value.contentId", (12).to_bytes(4, "big"))]),
        (None, b"raw", [("apicurio.value.globalId", (41).to_bytes(8, "big"))]),
        (None, b"raw", [("__value_schema_id", b"\x05garbage")]),          # a header in no known encoding: no id, no prefix read
        (None, b"raw", [("__key_schema_id", b"\x01" + GUID.bytes)]),      # the key's header, for a null key
        (b"\x00\x00\x00", b"\x00\x00\x00\x00", None),                      # too short to be framed
        (None, None, None),                                               # tombstone
        (None, b'{"plain": 1}', []),
    ]
    records = table(rows)
    assert schema_ids(records) == {
        "key": {"3": 1, f"guid:{GUID}": 1},
        "value": {"7": 2, "9": 1, "12": 1, "apicurio-global:41": 1, f"guid:{GUID}": 1},
    }
    # the analysis's SQL (sql/wire.sql) reads the same from the same rows
    con = duckdb.connect()
    con.register("records_arrow", records.append_column("cluster_id", pa.array(["c"] * len(rows))))
    con.execute("CREATE TABLE records AS SELECT * FROM records_arrow")
    con.execute(resources.files("evkit.analysis").joinpath("sql/wire.sql").read_text())
    assert con.sql("SELECT value_wire_format, value_schema_id, schema_guid(value, headers, 'value'), key_wire_format, "
                   "key_schema_id, schema_guid(key, headers, 'key') FROM record_wire JOIN records USING (\"offset\") "
                   "ORDER BY \"offset\"").fetchall() == [
        ("confluent", 7, None, None, None, None), ("confluent", 7, None, "confluent", 3, None),
        ("confluent_guid", None, GUID, None, None, None), ("header", 9, None, None, None, None),
        ("apicurio_header", 12, None, None, None, None), ("apicurio_header", None, None, None, None, None),
        ("header", None, None, None, None, None), ("plain", None, None, "header", None, GUID),
        ("plain", None, None, "plain", None, None), (None, None, None, None, None, None),
        ("plain", None, None, None, None, None),
    ]
    assert schema_ids(table([(None, b"{}", None)])) == {}


def test_counts_merge_and_travel_from_a_worker_as_json():
    total = merge_ids({}, {"value": {"7": 2, "10": 1}})
    merge_ids(total, {"value": {"7": 1, "guid:x": 1}, "key": {"3": 4}})
    assert total == {"value": {"7": 3, "10": 1, "guid:x": 1}, "key": {"3": 4}}
    assert list(total["value"]) == ["7", "10", "guid:x"]  # ids in number order, then the others
    committed = CommittedFile("t", 0, FileEntry("p", 0, 1, 1, 0, 0, 10, "s"), [], 5, schema_ids=total)
    assert CommittedFile.from_json(json.loads(json.dumps(committed.to_json()))) == committed
