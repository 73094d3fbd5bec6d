"""evkit.open: dataset verification, several datasets at once, field mappings and config, the CLI."""
from __future__ import annotations

import json
import shutil

import pytest

import evkit
from support.analysis_data import FIELDS, clean_stream, write
from evkit.cli import main
from evkit.store.layout import data_files
from evkit.store.manifest import read_manifests, write_manifest


def refusal(dataset) -> str:
    """The one-line DatasetError evkit.open raises for `dataset`."""
    with pytest.raises(evkit.DatasetError) as error:
        evkit.open(dataset, quiet=True)
    return str(error.value)


@pytest.fixture
def dataset(tmp_path):
    return write(tmp_path / "ds", clean_stream(partitions=2, entities=2, per_entity=5))


def test_incomplete_run_is_refused_unless_allowed(dataset):
    (manifest,) = read_manifests(dataset)
    manifest.status = "interrupted"
    write_manifest(dataset, manifest)
    assert refusal(dataset) == (f"{dataset}: dump run {manifest.run_id} is interrupted, not complete; re-run the "
                                "same `evkit dump` to resume it, or open with allow_incomplete=True")
    with evkit.open(dataset, allow_incomplete=True, quiet=True) as ds:
        assert ds.records.count("*").fetchall() == [(10,)]


def test_unlisted_file_is_refused(dataset):
    first = next(data_files(dataset))
    stray = first.with_name("00000000000000000100-00000000000000000105.parquet")
    shutil.copy(first, stray)
    assert refusal(dataset) == (f"{stray}: not listed in any run manifest: an interrupted dump not yet resumed "
                                "(re-run it) or a file from another dump")


def test_changed_file_is_refused_by_its_sha256(dataset):
    path = next(data_files(dataset))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    (manifest,) = read_manifests(dataset)
    assert refusal(dataset) == (f"{path}: sha256 differs from what dump run {manifest.run_id} wrote; "
                                "the file was changed or corrupted")


def test_missing_file_and_bad_manifest(dataset):
    path = next(data_files(dataset))
    path.unlink()
    (manifest,) = read_manifests(dataset)
    assert refusal(dataset) == (f"{path}: listed by dump run {manifest.run_id} but missing; "
                                "the dataset was modified after the dump")
    (runs,) = (dataset / "_evkit" / "runs").glob("*.json")
    runs.write_text("{not json")
    assert refusal(dataset).startswith(f"{runs}: manifest is not valid JSON")


def test_two_dumps_of_one_cluster_count_each_record_once(tmp_path):
    rows = clean_stream(partitions=1, entities=2, per_entity=10)
    write(tmp_path / "a", rows[:15])
    write(tmp_path / "b", rows[5:])
    write(tmp_path / "other", rows, cluster_id="mirror")
    with evkit.open(tmp_path / "a", tmp_path / "b", fields=FIELDS, quiet=True) as ds:
        assert ds.records.project('"offset"').order('"offset"').fetchall() == [(i,) for i in range(20)]
        assert ds.findings().fetchall() == []
    with evkit.open(tmp_path / "a", tmp_path / "other", quiet=True) as ds:
        assert ds.sql("SELECT cluster_id, count(*) FROM records GROUP BY ALL ORDER BY ALL").fetchall() == [
            ("mirror", 20), ("synthetic", 15)]


def test_config_file_maps_fields_per_topic_and_sets_check_parameters(tmp_path):
    rows = clean_stream(partitions=1, entities=1, per_entity=30)
    root = write(tmp_path / "ds", rows)
    config = tmp_path / "evkit.toml"
    config.write_text('[defaults]\nevent_time = "$.ts"\n\n[topics.orders]\nevent_id = "$.id"\nentity = "$.user"\n'
                      'sequence = "$.seq"\n\n[checks.silence]\nmin_events = 5\n')
    with evkit.open(root, config=config, quiet=True) as ds:
        assert ds.sql("SELECT field, source, explicit FROM field_sources ORDER BY field").fetchall() == [
            ("entity", "$.user", True), ("event_id", "$.id", True), ("event_time", "$.ts", True),
            ("sequence", "$.seq", True), ("trace_id", "header:traceparent", False)]
        assert ds.connection.execute("SELECT getvariable('silence_min_events')").fetchall() == [(5,)]
        assert ds.events.project("entity, event_id").limit(1).fetchall() == [("e0", "orders-e0-0")]


@pytest.mark.parametrize("options, message", [
    (["--field", "event_id=body.id"], "field event_id: bad source 'body.id'; use key, timestamp, header:<name> "
                                      "or a JSON path like $.a.b"),
    (["--field", "colour=$.c"], "unknown event field 'colour'; fields are event_id, entity, event_time, sequence, "
                                "event_type, trace_id"),
    (["--field", "event_id"], "--field 'event_id': expected NAME=SOURCE or TOPIC:NAME=SOURCE"),
    (["--field", "entity=timestamp"], "field entity: source 'timestamp' is only valid for event_time"),
    (["--checks", "nope"], "unknown check 'nope'; checks are "),
    (["--config", "missing.toml"], "config file missing.toml: No such file or directory"),
])
def test_cli_usage_errors_are_one_line_and_exit_2(dataset, capsys, options, message):
    assert main(["check", str(dataset), "-q", *options]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evkit: error: {message}") and err.count("\n") == 1


def test_cli_config_errors(dataset, tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    for text, message in [("[topics.orders]\nentity = 3\n", "config [topics.orders].entity: expected a source string, got 3"),
                          ("[checks.silence]\nfactor = 'big'\n", "config [checks.silence].factor: expected a number, got 'big'"),
                          ("[checks.partitioner]\nproducer_header = 3\n",
                           "config [checks.partitioner].producer_header: expected a string, got 3"),
                          ("[checks.silence]\nspeed = 3\n", "config [checks.silence]: unknown parameter 'speed'; "
                                                            "parameters are factor, min_events, min_ms"),
                          ("[colours]\n", "config: unknown section(s) colours; use [defaults], [topics.<name>], [checks.<name>], "
                                          "[rates.<name>], [flows.<name>], [rules.<name>]")]:
        bad.write_text(text)
        assert main(["check", str(dataset), "-q", "--config", str(bad)]) == 2
        assert capsys.readouterr().err == f"evkit: error: {message}\n"


def test_cli_json_lines_and_exit_codes(tmp_path, capsys):
    rows = [r for r in clean_stream(partitions=1, entities=2, per_entity=10) if r["offset"] not in (4, 5)]
    rows[0]["key"] = b"\xfe\xff"
    root = write(tmp_path / "ds", rows)
    assert main(["check", str(root), "-q", "--checks", "offset_gap", "--format", "json"]) == 1
    *lines, summary = capsys.readouterr().out.splitlines()
    assert json.loads(summary)["summary"]["findings"] == {"offset_gap": {"error": 0, "warning": 1, "info": 0}}
    found = [json.loads(line) for line in lines]
    assert [f.pop("cause").startswith("offset_gap-") for f in found] == [True]  # its cause: docs/causes.md
    assert found == [{
        "check": "offset_gap", "severity": "warning", "topic": "orders", "partition": 0, "key": "e1",
        "offsets": [4, 5], "event_ids": [], "first_ts": "2023-11-14T22:13:23.000Z", "last_ts": "2023-11-14T22:13:26.000Z",
        "detail": "unexplained: offsets 4..5 (2 offsets) of orders/0 were not delivered and nothing explains it "
                  "(not compacted, no transaction markers seen)"}]
    assert main(["check", str(root), "-q", "--checks", "offset_gap", "--fail-on", "error"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1 cause of 1 finding, worst first:\n  1. [warning] orders/0: 1 offset gap")
    assert "\n1 finding(s):\n  offset_gap           warning  1\n" in out
    rows[1]["key"], rows[1]["value"] = rows[0]["key"], rows[0]["value"]
    root2 = write(tmp_path / "ds2", rows)
    assert main(["check", str(root2), "-q", "--checks", "duplicate", "--format", "json"]) == 1
    (finding,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()[:-1]]  # then the summary
    assert (finding["key"], finding.get("key_encoding"), finding["offsets"]) == ("/v8=", "base64", [0, 1])


def test_repr_is_one_line_and_field_coverage_a_table(dataset):
    rows = clean_stream(partitions=2, entities=2, per_entity=5)
    rows[0]["value"] = b"not json"
    root = write(dataset.parent / "with-bad-value", rows)
    with evkit.open(root, fields={"event_id": "$.id"}, quiet=True) as ds:
        assert repr(ds) == f"<evkit.Analysis: {root} (cluster synthetic): 1 topic, 2 partitions, 10 records>"
        assert [row[:3] + row[4:] for row in ds.coverage_rows()] == [
            ("orders", "entity", "key", 10, 10, 0, 0, 0),
            ("orders", "event_id", "$.id", 10, 9, 1, 1, 0),
            ("orders", "event_time", "timestamp", 10, 10, 0, 0, 0),
            ("orders", "trace_id", "header:traceparent", 10, 10, 0, 0, 0),
        ]
        ds.check("duplicate")
        assert repr(ds) == (f"<evkit.Analysis: {root} (cluster synthetic): 1 topic, 2 partitions, 10 records; "
                            "checked: 0 findings, 0 causes>")
        assert "No causes" in ds._repr_html_()
