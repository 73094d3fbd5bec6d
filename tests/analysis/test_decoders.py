"""The decoder seam: per topic a key_format and a value_format turn the stored bytes into what field
sources read, and every value that does not decode is counted in field_coverage.undecodable."""
from __future__ import annotations

import datetime as dt
import decimal
import io
import json
import shutil
import sys
import uuid

import duckdb
import fastavro
import pyarrow as pa
import pytest

import evkit
from evkit.analysis.decoders import avro
from evkit.analysis.decoders.step import CACHE_DIR
from evkit.schemas.store import StoredSchema, write_schema
from evkit.store.layout import data_files
from support import REPO
from support.analysis_data import BASE_MS, write
from support.dumping import dataset_rows


def rows(values: list[bytes | None], key: bytes | None = b"k") -> list[dict]:
    return [{"topic": "t", "partition": 0, "offset": n, "timestamp": BASE_MS + n, "key": key, "value": value}
            for n, value in enumerate(values)]


def coverage(root, config: dict, field: str) -> tuple:
    with evkit.open(root, config=config, quiet=True) as analysis:
        (row,) = analysis.field_coverage.filter(f"field = '{field}'").select(
            "present, missing, undecodable, unparseable").fetchall()
        return row


def test_json_is_the_default_and_counts_what_is_not_json(tmp_path):
    root = write(tmp_path / "ds", rows([b'{"id": "a"}', b"not json", b"\xff\xfe", None]))
    assert coverage(root, {"defaults": {"event_id": "$.id"}}, "event_id") == (1, 3, 2, 0)


def test_string_values_are_read_whole_and_bytes_that_are_not_utf8_are_undecodable(tmp_path):
    root = write(tmp_path / "ds", rows([b"order-1", b"order-2", b"\xff", None]))
    config = {"topics": {"t": {"value_format": "string", "event_id": "$"}}}
    assert coverage(root, config, "event_id") == (2, 2, 1, 0)
    with evkit.open(root, config=config, quiet=True) as analysis:
        assert analysis.sql('SELECT event_id FROM events ORDER BY "offset"').fetchall() == [
            ("order-1",), ("order-2",), (None,), (None,)]


def test_raw_values_are_base64_and_never_undecodable(tmp_path):
    root = write(tmp_path / "ds", rows([b"\xff\x00", b"ab"]))
    config = {"topics": {"t": {"value_format": "raw", "event_id": "$"}}}
    assert coverage(root, config, "event_id") == (2, 0, 0, 0)
    with evkit.open(root, config=config, quiet=True) as analysis:
        assert analysis.sql('SELECT event_id FROM events ORDER BY "offset"').fetchall() == [("/wA=",), ("YWI=",)]


def test_the_key_reads_as_text_else_base64_by_default_and_as_the_chosen_format(tmp_path):
    root = write(tmp_path / "ds", rows([b"{}"], key=b"\xff\x01"))
    with evkit.open(root, quiet=True) as analysis:
        assert analysis.sql("SELECT entity FROM events").fetchall() == [("base64:/wE=",)]
    with evkit.open(root, config={"topics": {"t": {"key_format": "raw"}}}, quiet=True) as analysis:
        assert analysis.sql("SELECT entity FROM events").fetchall() == [("/wE=",)]


@pytest.mark.parametrize(("config", "message"), [
    ({"topics": {"t": {"value_format": "thrift"}}},
     "config [topics.t].value_format: unknown format 'thrift'; formats are auto, avro, json, json_schema, protobuf, "
     "raw, string, text"),
    ({"topics": {"t": {"value_format": "string", "event_id": "$.id"}}},
     "field source $.id: string values have no fields; use $ for the whole value"),
])
def test_an_unknown_format_or_a_path_the_format_has_not_is_a_usage_error(tmp_path, config, message):
    root = write(tmp_path / "ds", rows([b"x"]))
    with pytest.raises(evkit.UsageError) as error:
        evkit.open(root, config=config, quiet=True)
    assert str(error.value) == message


def avro_value(schema_id: int, seq: int) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(BET), {"bet_id": f"b{seq}", "seq": seq, "ts": BASE_MS + seq})
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


BET = {"type": "record", "name": "Bet", "fields": [{"name": "bet_id", "type": "string"}, {"name": "seq", "type": "long"},
                                                   {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}


def store_bet_schema(root) -> None:
    (root / "_evkit" / "schemas").mkdir()
    (root / "_evkit" / "schemas" / "3.json").write_text(json.dumps(
        {"id": 3, "subject": "t-value", "version": 1, "schema_type": "AVRO", "schema": json.dumps(BET),
         "references": []}))


@pytest.mark.parametrize("value_format", ["auto", "avro"])
def test_framed_avro_values_decode_and_every_failure_is_counted_with_its_reason(tmp_path, value_format):
    """Stored schema 3 only: a truncated payload is corrupt, id 9 is unknown, a JSON value is read as
    JSON by `auto` and has the wrong magic byte for `avro`; the values after a corrupt one still decode."""
    values = [avro_value(3, 0), avro_value(3, 1)[:-2], avro_value(3, 2), avro_value(9, 3), b'{"bet_id": "j"}', None]
    root = write(tmp_path / "ds", rows(values))
    store_bet_schema(root)
    config = {"topics": {"t": {"value_format": value_format, "event_id": "$.bet_id", "event_time": "$.ts"}}}
    with evkit.open(root, config=config, quiet=True) as analysis:
        assert analysis.sql('SELECT event_id, epoch_ms(event_time) FROM events ORDER BY "offset"').fetchall() == [
            ("b0", BASE_MS), (None, None), ("b2", BASE_MS + 2), (None, None),
            ("j" if value_format == "auto" else None, None), (None, None)]
        assert analysis.sql('SELECT "offset", schema_id, reason FROM decode_failures ORDER BY "offset"').fetchall() == [
            (1, 3, "corrupt_payload"), (3, 9, "unknown_schema_id")] + (
            [] if value_format == "auto" else [(4, None, "wrong_magic_byte")])
        undecodable = 2 if value_format == "auto" else 3
        (detail,) = [f for (f,) in analysis.findings(["field_coverage"]).select("detail").fetchall() if "event_id" in f]
        assert detail == (f"{undecodable + 1} of 6 records of t have no event_id ($.bet_id): {undecodable} undecodable "
                          f"(corrupt_payload 1, unknown_schema_id 1{'' if value_format == 'auto' else ', wrong_magic_byte 1'}), "
                          f"1 without it, 0 unparseable")


def opened(root, **options) -> tuple[tuple[int, int], list[tuple]]:
    """(data files decoded, data files read from the cache) and the event ids of one open."""
    with evkit.open(root, config={"topics": {"t": {"value_format": "avro", "event_id": "$.bet_id"}}}, quiet=True,
                    **options) as analysis:
        return ((analysis.decoded.decoded_files, analysis.decoded.cached_files),
                analysis.sql('SELECT event_id FROM events ORDER BY "offset"').fetchall())


def test_a_second_open_reads_the_cache_and_changed_bytes_are_decoded_again(tmp_path, monkeypatch):
    root = write(tmp_path / "ds", rows([avro_value(3, n) for n in range(3)]))
    store_bet_schema(root)
    assert opened(root) == ((1, 0), [("b0",), ("b1",), ("b2",)])
    assert opened(root) == ((0, 1), [("b0",), ("b1",), ("b2",)])
    other = write(tmp_path / "other", rows([avro_value(3, n) for n in range(7, 10)]))
    (path,), (replacement,) = data_files(root), data_files(other)
    shutil.copyfile(replacement, path)  # same size, other bytes: only verify=False opens it
    assert opened(root, verify=False) == ((1, 0), [("b7",), ("b8",), ("b9",)])
    monkeypatch.setenv("EVKIT_DECODE_CACHE", "0")
    entries = sorted((root / CACHE_DIR).iterdir())
    assert len(entries) == 2 and opened(root, verify=False) == ((1, 0), [("b7",), ("b8",), ("b9",)])
    assert sorted((root / CACHE_DIR).iterdir()) == entries


def test_the_committed_avro_sample_is_what_its_script_makes(tmp_path):
    sys.path.insert(0, str(REPO / "data"))
    from make_registry_avro import make

    make(tmp_path / "sample")
    columns = ["topic", "partition", "offset", "timestamp", "key", "value"]
    assert dataset_rows(tmp_path / "sample", columns) == dataset_rows(REPO / "data" / "registry-avro", columns)


PAYMENT = {"type": "record", "name": "Payment", "namespace": "x", "fields": [
    {"name": "payment_id", "type": "string"},
    {"name": "method", "type": ["null", {"type": "record", "name": "Card", "fields": [{"name": "number", "type": "string"}]},
                                {"type": "record", "name": "Transfer", "fields": [{"name": "iban", "type": "string"}]}]}]}


def avro_framed(schema_id: int, schema: dict, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def test_a_union_of_two_records_decodes_as_the_branch_it_holds(tmp_path):
    """polars-avro panics on a union of two non-null branches: such a schema is read by fastavro, each
    value as the record of its branch, and a corrupt payload is still only that value's failure."""
    payments = [("p0", ("x.Card", {"number": "5500"})), ("p1", ("x.Transfer", {"iban": "DE89"})), ("p2", None)]
    values = [avro_framed(4, PAYMENT, {"payment_id": pid, "method": method}) for pid, method in payments]
    root = write(tmp_path / "ds", rows([*values[:2], values[2][:-1], values[2]]))
    write_schema(root, StoredSchema(4, "t-value", 1, "AVRO", json.dumps(PAYMENT)))
    config = {"topics": {"t": {"value_format": "avro", "event_id": "$.payment_id", "event_type": "$.method.iban"}}}
    with evkit.open(root, config=config, quiet=True) as analysis:
        assert analysis.sql('SELECT event_id, event_type FROM events ORDER BY "offset"').fetchall() == [
            ("p0", None), ("p1", "DE89"), (None, None), ("p2", None)]
        assert analysis.sql('SELECT decoded FROM decoded_values ORDER BY "offset"').fetchall() == [
            ('{"payment_id":"p0","method":{"number":"5500"}}',), ('{"payment_id":"p1","method":{"iban":"DE89"}}',),
            (None,), ('{"payment_id":"p2","method":null}',)]
        assert analysis.sql('SELECT "offset", reason FROM decode_failures').fetchall() == [(2, "corrupt_payload")]


EVERY_TYPE = {"type": "record", "name": "Every", "fields": [
    {"name": "s", "type": "string"}, {"name": "b", "type": "bytes"}, {"name": "i", "type": "int"}, {"name": "l", "type": "long"},
    {"name": "f", "type": "float"}, {"name": "d", "type": "double"}, {"name": "yes", "type": "boolean"},
    {"name": "n", "type": ["null", "string"]}, {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
    {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 3}},
    {"name": "ts_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "ts_us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
    {"name": "local_ms", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
    {"name": "day", "type": {"type": "int", "logicalType": "date"}},
    {"name": "t_ms", "type": {"type": "int", "logicalType": "time-millis"}},
    {"name": "t_us", "type": {"type": "long", "logicalType": "time-micros"}},
    {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
    {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
    {"name": "m", "type": {"type": "map", "values": "long"}},
    {"name": "a", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [{"name": "k", "type": "string"}]}}},
]}


def test_the_fastavro_path_gives_the_json_of_the_polars_path(tmp_path):
    """Differential: values of a schema polars-avro reads, decoded by both paths, give the same JSON text
    (the fast path's Arrow values through DuckDB's to_json, as the decode step's views make it)."""
    utc = dt.timezone.utc
    records = [{"s": f"é{n}\\\"", "b": bytes([0, 65, 92, 255, n]), "i": -n, "l": 2**40 + n, "f": 0.5, "d": 1e-3 * n,
                "yes": n % 2 == 0, "n": None if n else "x", "e": "B", "fx": b"a\x01b",
                "ts_ms": dt.datetime(2025, 11, 24, 16, 0, 1, 250_000 * n, tzinfo=utc),
                "ts_us": dt.datetime(2025, 11, 24, 16, 0, 1, 7 * n, tzinfo=utc),
                "local_ms": dt.datetime(2025, 1, 2, 3, 4, 5, 120_000), "day": dt.date(2025, 2, 28 - n),
                "t_ms": dt.time(1, 2, 3, 4_000 * n), "t_us": dt.time(23, 59, 59, 999_999 - n),
                "amount": decimal.Decimal(f"{n}12.30"), "id": str(uuid.UUID(int=n + 1)),
                "m": {"k1": n}, "a": [{"k": "v"}] * n} for n in range(3)]
    stored = StoredSchema(6, "t-value", 1, "AVRO", json.dumps(EVERY_TYPE))
    values = pa.array([avro_framed(6, EVERY_TYPE, r) for r in records], pa.binary())
    fast, slow = avro.Reader(stored, {6: stored}), avro.Reader(stored, {6: stored})
    slow.json_text = True
    (_, fast_rows, fast_values), = fast.read(values).variants
    (_, slow_rows, slow_values), = slow.read(values).variants
    assert not fast.json_text and list(fast_rows) == list(slow_rows) == [0, 1, 2]
    con = duckdb.connect()  # no ICU in this DuckDB: timestamps with time zone print in UTC, as in evkit's sessions
    fast_table = pa.table({"v": fast_values})
    as_json = con.execute("SELECT to_json(v)::VARCHAR FROM fast_table").fetchall()
    assert [text for (text,) in as_json] == slow_values.to_pylist()
