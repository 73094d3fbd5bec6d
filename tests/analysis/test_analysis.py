"""The analysis checks over small datasets with known anomalies: exact findings, nothing on clean data."""
from __future__ import annotations

import json

import pytest

import evkit
from support.analysis_data import BASE_MS, FIELDS, append, clean_stream, event, traceparent, write
from evkit.cli import main


# The checks of the analysis core; the partition-hash checks have their own tests.
ANALYSIS_CHECKS = "field_coverage,duplicate,offset_gap,sequence_gap,silence,out_of_order"


def findings(root, **options) -> list[dict]:
    """The findings without their facts and cause ids (tests/analysis/test_causes.py tests those)."""
    options.setdefault("checks", ANALYSIS_CHECKS)
    found = evkit.check(root, fields=options.pop("fields", FIELDS), quiet=True, **options).findings
    return [{k: v for k, v in f.items() if k not in ("facts", "cause")} for f in found]


def brief(found: list[dict]) -> list[tuple]:
    return [(f["check"], f["severity"], f["topic"], f["partition"], f["offsets"], f["detail"]) for f in found]


def test_clean_stream_has_no_findings_and_full_coverage(tmp_path):
    root = write(tmp_path / "ds", clean_stream())
    report = evkit.check(root, checks=ANALYSIS_CHECKS, fields=FIELDS, quiet=True)
    assert (report.findings, report.exit_code) == ([], 0)
    with evkit.open(root, fields=FIELDS, quiet=True) as ds:
        assert {(field, present, missing) for _, field, _, _, _, present, missing, _, _ in ds.coverage_rows()} == {
            (name, 150, 0) for name in ("entity", "event_id", "event_time", "event_type", "sequence", "trace_id")}
        assert ds.records.count("*").fetchall() == [(150,)]


def test_logical_and_exact_duplicates_with_every_copy(tmp_path):
    rows = clean_stream()
    original = rows[9]  # e3, partition 0, offset 3
    append(rows, 0, timestamp=original["timestamp"] + 200_000, key=original["key"], value=original["value"])
    append(rows, 1, timestamp=BASE_MS + 1, key=b"\xff\x01", value=b"ping", topic="pings")
    append(rows, 1, timestamp=BASE_MS + 2500, key=b"\xff\x01", value=b"ping", topic="pings")
    root = write(tmp_path / "ds", rows)
    fields = {f"orders:{name}": source for name, source in FIELDS.items()}
    assert findings(root, fields=fields, checks="duplicate") == [
        {"check": "duplicate", "severity": "warning", "topic": "orders", "partition": 0, "key": "e3",
         "offsets": [3, 50], "event_ids": ["orders-e3-1"],
         "first_ts": "2023-11-14T22:13:29.000Z", "last_ts": "2023-11-14T22:16:49.000Z",
         "detail": "logical duplicate: event_id orders-e3-1 stored 2 times at 0:3, 0:50 within 200.000 s (identical bytes)"},
        {"check": "duplicate", "severity": "warning", "topic": "pings", "partition": 1, "key": "/wE=",
         "key_encoding": "base64", "offsets": [0, 1], "event_ids": [],
         "first_ts": "2023-11-14T22:13:20.001Z", "last_ts": "2023-11-14T22:13:22.500Z",
         "detail": "exact duplicate: key base64:/wE=, value md5 df911f0151f9ef021d410b4be5060972 stored 2 times "
                   "at 1:0, 1:1 within 2.499 s"},
    ]


def test_republished_range_is_one_burst_besides_its_copies(tmp_path):
    rows = clean_stream()
    partition0 = [r for r in rows if r["partition"] == 0][:12]
    resend_ts = rows[-1]["timestamp"] + 60_000
    for i, original in enumerate(partition0):
        append(rows, 0, timestamp=resend_ts + i * 10, key=original["key"], value=original["value"],
               headers=original["headers"])
    root = write(tmp_path / "ds", rows)
    found = findings(root, checks="duplicate")
    bursts = [f for f in found if f["detail"].startswith("re-publication")]
    assert brief(bursts) == [(
        "duplicate", "warning", "orders", 0, list(range(50, 62)),
        "re-publication: 12 records at offsets 50..61 of orders/0 repeat earlier records (offsets 0..11 of "
        "partition(s) 0), at least 176.110 s later")]
    assert bursts[0]["event_ids"] == [f"orders-e{n}-{seq}" for seq in range(6) for n in (0, 3)]
    assert sorted(f["offsets"] for f in found if f not in bursts) == [[i, 50 + i] for i in range(12)]


def test_unexplained_offset_gap_on_a_plain_topic(tmp_path):
    rows = [r for r in clean_stream() if not (r["partition"] == 2 and 10 <= r["offset"] < 13)]
    root = write(tmp_path / "ds", rows)
    found = [f for f in findings(root) if f["check"] == "offset_gap"]
    assert found == [{
        "check": "offset_gap", "severity": "warning", "topic": "orders", "partition": 2, "key": "e5",
        "offsets": [10, 12], "event_ids": [], "first_ts": "2023-11-14T22:13:49.000Z", "last_ts": "2023-11-14T22:14:01.000Z",
        "detail": "unexplained: offsets 10..12 (3 offsets) of orders/2 were not delivered and nothing explains it "
                  "(not compacted, no transaction markers seen)"}]


def transactional_rows() -> list[dict]:
    """Partition 0: committed transactions of 3 records, each followed by its marker offset; one
    aborted transaction (4 records + marker) hidden under read_committed; ends with a marker."""
    rows, offset, seq = [], 0, 0
    for txn in range(6):
        if txn == 3:
            offset += 5  # aborted: 4 records and the abort marker, none delivered
            continue
        for _ in range(3):
            rows.append(event("payments", 0, offset, BASE_MS + offset * 1000, "e0", seq))
            offset, seq = offset + 1, seq + 1
        offset += 1  # commit marker
    return rows


def test_transactional_topic_gaps_are_explained(tmp_path):
    root = write(tmp_path / "ds", transactional_rows(), ranges={("payments", 0): (0, 25)})
    assert findings(root) == []
    with evkit.open(root, quiet=True) as ds:
        assert ds.offset_gaps().project("gap_start, gap_end, classification").fetchall() == [
            (3, 4, "transaction_marker"), (7, 8, "transaction_marker"), (11, 17, "transaction_aborted"),
            (20, 21, "transaction_marker"), (24, 25, "transaction_marker")]


def test_config_can_declare_a_topic_not_transactional(tmp_path):
    root = write(tmp_path / "ds", transactional_rows(), ranges={("payments", 0): (0, 25)})
    config = {"topics": {"payments": {"transactional": False}}}
    assert [f["offsets"] for f in findings(root, config=config) if f["check"] == "offset_gap"] == [
        [3, 3], [7, 7], [11, 16], [20, 20], [24, 24]]


def test_compacted_topic_gaps_are_explained(tmp_path):
    rows = [r for r in clean_stream() if r["offset"] % 4 != 1]
    root = write(tmp_path / "ds", rows, topic_configs={"orders": {"cleanup.policy": "compact"}})
    found = findings(root, checks="offset_gap,duplicate,out_of_order,silence")
    assert found == []
    with evkit.open(root, quiet=True) as ds:
        assert {c for (c,) in ds.offset_gaps().project("classification").fetchall()} == {"compaction"}


def test_gap_between_two_dumps_below_the_low_watermark_is_retention(tmp_path):
    rows = clean_stream(partitions=1, entities=1, per_entity=30)
    write(tmp_path / "ds", rows[:10], run_id="run-1")
    write(tmp_path / "ds", rows[20:], run_id="run-2")  # its range (and low watermark) starts at 20
    found = [f for f in findings(tmp_path / "ds") if f["check"] == "offset_gap"]
    assert brief(found) == [("offset_gap", "info", "orders", 0, [10, 19],
                             "retention: offsets 10..19 (10 offsets) of orders/0 were deleted by retention before "
                             "the later dump")]


def test_lost_unseen_and_regressed_sequences(tmp_path):
    rows = [r for r in clean_stream() if (r["key"], r["offset"]) not in {(b"e1", 10), (b"e2", 46)}]
    append(rows, 0, timestamp=rows[-1]["timestamp"] + 1000, key=b"e3", value=b'{"id": "again", "seq": 2, "ts": 0}')
    root = write(tmp_path / "ds", rows)
    found = findings(root, checks="sequence_gap,sequence_regression")
    assert brief(found) == [
        ("sequence_gap", "error", "orders", 1, [8, 12],
         "lost: entity e1 of orders misses sequence 5..5 (1 events) between 4 at 1:8 and 6 at 1:12"),
        ("sequence_regression", "warning", "orders", 0, [49, 50],
         "entity e3 of orders/0 went back from sequence 24 at offset 49 to 2 at offset 50"),
        ("sequence_gap", "info", "orders", 2, [44, 48],
         "unseen: entity e2 of orders misses sequence 23..23 (1 events) between 22 at 2:44 and 24 at 2:48"),
    ]


def test_silent_partition_and_entities(tmp_path):
    rows = clean_stream()
    for r in rows:  # partition 1 (entities e1, e4) goes quiet for 30 minutes half-way
        if r["partition"] == 1 and r["offset"] >= 25:
            seq = json.loads(r["value"])["seq"]
            r.update(event("orders", 1, r["offset"], r["timestamp"] + 1_800_000, r["key"].decode(), seq))
    root = write(tmp_path / "ds", rows)
    assert brief(findings(root, checks="silence")) == [
        ("silence", "warning", "orders", 1, [23, 25],
         "entity e4 of orders was silent for 1806.000 s (22x its usual interval of 81.000 s over 25 events)"),
        ("silence", "warning", "orders", 1, [24, 25],
         "partition orders/1 was silent for 1803.000 s (45x its usual interval of 39.735 s over 50 events)"),
        ("silence", "warning", "orders", 1, [24, 26],
         "entity e1 of orders was silent for 1806.000 s (22x its usual interval of 81.000 s over 25 events)"),
    ]


def test_late_events_and_split_entities(tmp_path):
    rows = clean_stream()
    late = next(r for r in rows if r["partition"] == 0 and r["offset"] == 20)  # e0, seq 10
    late["value"] = event("orders", 0, 20, late["timestamp"], "e0", 10, event_ts=late["timestamp"] - 10_000)["value"]
    slightly = next(r for r in rows if r["partition"] == 0 and r["offset"] == 31)  # e3, seq 15
    slightly["value"] = event("orders", 0, 31, slightly["timestamp"], "e3", 15,
                              event_ts=slightly["timestamp"] - 4_000)["value"]
    append(rows, 2, timestamp=rows[-1]["timestamp"] + 1000, key=b"e0",
           value=event("orders", 2, 0, rows[-1]["timestamp"] + 1000, "e0", 25)["value"])
    root = write(tmp_path / "ds", rows)
    assert brief(findings(root, checks="out_of_order")) == [
        ("out_of_order", "warning", "orders", 0, [20],
         "event orders-e0-10 orders/0@20 (entity e0) has event time 4.000 s before an earlier event of its entity"),
        ("out_of_order", "warning", "orders", None, [0, 50],
         "entity e0 of orders is split over partitions 0,2 (25+1 events): its order is not guaranteed"),
        ("out_of_order", "info", "orders", 0, [31],
         "event orders-e3-15 orders/0@31 (entity e3) has event time 1.000 s before an earlier event of its partition"),
    ]


def test_values_without_the_field_are_counted_and_reported(tmp_path):
    rows = clean_stream()
    rows[0]["value"] = b"not json"
    rows[1]["value"] = b'{"seq": 0, "ts": 1700000000001}'
    rows[2]["value"] = b'{"id": "x", "seq": "three", "ts": "yesterday"}'
    root = write(tmp_path / "ds", rows)
    assert brief(findings(root, checks="field_coverage")) == [
        ("field_coverage", "info", "orders", None, [],
         "2 of 150 records of orders have no event_id ($.id): 1 undecodable, 1 without it, 0 unparseable"),
        ("field_coverage", "info", "orders", None, [],
         "2 of 150 records of orders have no event_time ($.ts): 1 undecodable, 0 without it, 1 unparseable"),
        ("field_coverage", "info", "orders", None, [],
         "2 of 150 records of orders have no sequence ($.seq): 1 undecodable, 0 without it, 1 unparseable"),
        ("field_coverage", "info", "orders", None, [],
         "3 of 150 records of orders have no event_type ($.type): 1 undecodable, 2 without it, 0 unparseable"),
    ]


def test_timeline_follows_one_trace_through_topics(tmp_path):
    trace = 7
    rows = [
        {"topic": "bets", "partition": 0, "offset": 0, "timestamp": BASE_MS + 50, "key": b"u1",
         "value": b'{"ts": "2023-11-14T22:13:20Z"}', "headers": [("traceparent", traceparent(trace))]},
        {"topic": "payments", "partition": 1, "offset": 0, "timestamp": BASE_MS + 900, "key": b"u1",
         "value": b'{"ts": 1700000000700}', "headers": [("traceparent", traceparent(trace))]},
        {"topic": "bets", "partition": 0, "offset": 1, "timestamp": BASE_MS + 60, "key": b"u2",
         "value": b'{"ts": 1700000000010}', "headers": [("traceparent", traceparent(8))]},
    ]
    root = write(tmp_path / "ds", rows)
    with evkit.open(root, fields={"event_time": "$.ts"}, quiet=True) as ds:
        assert ds.timeline(trace_id=f"{trace:032x}").project("topic, partition, \"offset\", lag_ms").fetchall() == [
            ("bets", 0, 0, 50), ("payments", 1, 0, 200)]
        assert ds.timeline().project("topic, \"offset\"").fetchall() == [("bets", 0), ("bets", 1), ("payments", 0)]


@pytest.mark.parametrize("fail_on, code", [("info", 1), ("warning", 1), ("error", 0)])
def test_exit_code_follows_fail_on(tmp_path, fail_on, code):
    rows = [r for r in clean_stream() if not (r["partition"] == 0 and r["offset"] in (7, 8))]
    root = write(tmp_path / "ds", rows)
    assert evkit.check(root, checks=["offset_gap"], fail_on=fail_on, quiet=True).exit_code == code


NO_SEQUENCE = {name: source for name, source in FIELDS.items() if name != "sequence"}
SKIPPED_SEQUENCE = ("skipped sequence_gap, sequence_regression: no topic maps a sequence field "
                    "(--field sequence=SOURCE or [topics.<t>] sequence = SOURCE)")
NO_GAPS = {"transaction_marker": 0, "transaction_aborted": 0, "compaction": 0, "retention": 0, "not_dumped": 0,
           "unexplained": 0}


def field_options(fields: dict[str, str]) -> list[str]:
    return [f"--field={name}={source}" for name, source in fields.items()]


def test_checks_without_their_field_mapping_are_reported_skipped(tmp_path, capsys):
    root = write(tmp_path / "ds", clean_stream())
    args = ["check", str(root), "--checks", ANALYSIS_CHECKS, *field_options(NO_SEQUENCE), "--quiet"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines() == ["0 finding(s)", "offset gaps: none", SKIPPED_SEQUENCE]
    assert main([*args, "--format", "json"]) == 0
    summary = {
        "records": 150, "run": ["duplicate", "field_coverage", "offset_gap", "out_of_order", "silence"],
        "skipped": {name: {"topics": ["orders"], "reason": SKIPPED_SEQUENCE.split(": ", 1)[1]}
                    for name in ("sequence_gap", "sequence_regression")},
        "findings": {name: {"error": 0, "warning": 0, "info": 0}
                     for name in ("duplicate", "field_coverage", "offset_gap", "out_of_order", "silence")},
        "offset_gaps": NO_GAPS, "causes": []}
    assert [json.loads(line) for line in capsys.readouterr().out.splitlines()] == [{"summary": summary}]
    assert evkit.check(root, checks=ANALYSIS_CHECKS, fields=NO_SEQUENCE, quiet=True).summary == summary


def test_a_check_mapped_on_some_topics_says_where_it_did_not_run(tmp_path):
    rows = clean_stream() + clean_stream("payments", partitions=1, entities=1, per_entity=3)
    root = write(tmp_path / "ds", rows)
    fields = {**NO_SEQUENCE, "orders:sequence": "$.seq"}
    report = evkit.check(root, checks="sequence_regression,offset_gap", fields=fields, quiet=True)
    assert report.to_text().splitlines() == [
        "0 finding(s)", "offset gaps: none",
        "skipped sequence_regression on payments: they map no sequence field "
        "(--field TOPIC:sequence=SOURCE or [topics.<t>] sequence = SOURCE)"]
    assert report.summary == {
        "records": 153, "run": ["offset_gap", "sequence_regression"],
        "skipped": {"sequence_regression": {"topics": ["payments"], "reason": "they map no sequence field "
                                            "(--field TOPIC:sequence=SOURCE or [topics.<t>] sequence = SOURCE)"}},
        "findings": {"offset_gap": {"error": 0, "warning": 0, "info": 0},
                     "sequence_regression": {"error": 0, "warning": 0, "info": 0}},
        "offset_gaps": NO_GAPS, "causes": []}


def test_offset_gaps_say_how_each_was_explained(tmp_path):
    root = write(tmp_path / "ds", transactional_rows(), ranges={("payments", 0): (0, 25)})
    report = evkit.check(root, checks="offset_gap", quiet=True)
    assert report.to_text() == "0 finding(s)\noffset gaps: 5, all explained: 4 transaction markers, 1 aborted transaction"
    assert report.summary["offset_gaps"] == {**NO_GAPS, "transaction_marker": 4, "transaction_aborted": 1}
    rows = [r for r in clean_stream() if not (r["partition"] == 2 and 10 <= r["offset"] < 13)]
    report = evkit.check(write(tmp_path / "gap", rows), checks="offset_gap,duplicate", quiet=True)
    text = report.to_text().splitlines()
    assert text[0] == "1 cause of 1 finding, worst first:"  # the causes come first (docs/causes.md)
    start = text.index("1 finding(s):")
    assert text[start:start + 3] == [
        "1 finding(s):", "  offset_gap           warning  1", "offset gaps: 1, not all explained: 1 unexplained gap"]
    assert evkit.check(root, checks="duplicate", quiet=True).summary["offset_gaps"] is None


def test_a_field_option_for_a_topic_not_in_the_datasets_is_a_usage_error(tmp_path, capsys):
    root = write(tmp_path / "ds", clean_stream() + clean_stream("payments", partitions=1, entities=1, per_entity=3))
    assert main(["check", str(root), "--field", "order:entity=$.user", "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "evkit: error: field order:entity: no topic 'order' in the dataset(s); topics are orders, payments\n")
    with pytest.raises(evkit.UsageError, match=r"^field nosuchtopic:sequence: no topic 'nosuchtopic' in the "
                                               r"dataset\(s\); topics are orders, payments$"):
        evkit.open(root, fields={"nosuchtopic:sequence": "$.seq"}, quiet=True)
    shared = {"topics": {"nosuchtopic": {"sequence": "$.seq"}, "orders": {"sequence": "$.seq"}}}
    assert evkit.check(root, checks="sequence_gap", fields=NO_SEQUENCE, config=shared, quiet=True).summary["skipped"] == {
        name: {"topics": ["payments"], "reason": "they map no sequence field "
               "(--field TOPIC:sequence=SOURCE or [topics.<t>] sequence = SOURCE)"}
        for name in ("sequence_gap", "sequence_regression")}
