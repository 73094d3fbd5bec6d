"""The decoder seam: per topic a key_format and a value_format turn the stored bytes into what field
sources read, and every value that does not decode is counted in field_coverage.undecodable."""
from __future__ import annotations

import pytest

import evkit
from support.analysis_data import BASE_MS, write


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
