"""The report's tables read like a report (evkit/reporting/tables.py), its verdict and intro fit what
is reviewed (evkit/reporting/verdict.py): small datasets, no notebook, no broker."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from support.analysis_data import BASE_MS, clean_stream, write

import evkit
from evkit.reporting.tables import cell_text, duration_text, table
from evkit.reporting.verdict import causes_in, intro, title_line, verdict


@pytest.mark.parametrize("value, text", [
    (timedelta(milliseconds=5), "5 ms"), (timedelta(seconds=1.25), "1.2 s"), (timedelta(seconds=40), "40 s"),
    (timedelta(minutes=2, seconds=10), "2 min 10 s"), (timedelta(hours=3, minutes=5, seconds=9), "3 h 5 min"),
    (timedelta(days=2, hours=4), "2 d 4 h"), (timedelta(0), "0 ms"), (timedelta(seconds=-3), "−3 s"),
])
def test_durations(value, text):
    assert duration_text(value) == text


@pytest.mark.parametrize("value, text", [
    (None, ""), (float("nan"), ""), (pd.NaT, ""), (12.0, "12"), (1234567, "1,234,567"), (0.25, "0.25"),
    (83.4477, "83.45"), (True, "yes"), (bytearray(b"user-7"), "user-7"), (b"\x00\x00\x00\x07", "0x00000007"),
    (pd.Timedelta(milliseconds=5), "5 ms"), (datetime(2025, 11, 22, 19, 0, 1, 240000), "2025-11-22 19:00:01.240"),
    (datetime(2025, 11, 22, 19, 0, 1), "2025-11-22 19:00:01"), ([595, 735], "595, 735"),
])
def test_cells(value, text):
    assert cell_text(value) == text


def test_a_long_table_is_cut_with_its_total_and_has_no_index_column():
    frame = pd.DataFrame({"key": [f"k{i}".encode() for i in range(40)], "n": [float(i) for i in range(40)],
                          "note": [None] * 40})
    shown = table(frame, caption="Keys", limit=3)
    assert shown.text.splitlines() == ["Keys (first 3 of 40)", "key | n | note", "k0 | 0 | ", "k1 | 1 | ", "k2 | 2 | "]
    assert "<caption" in shown.html and "Keys (first 3 of 40)" in shown.html and shown.html.count("<tr>") == 4
    assert '<th style="text-align:right">n</th>' in shown.html


def test_an_empty_table_says_none_found():
    assert table([], caption="Offset gaps").text == "Offset gaps: none found."
    assert "<table" not in table(pd.DataFrame({"a": []}), caption="Offset gaps").html


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    root = write(tmp_path_factory.mktemp("clean") / "orders-dump", clean_stream(per_entity=3))
    with evkit.open(root, fields={"event_id": "$.id"}, quiet=True) as ds:
        yield ds, ds.check("duplicate")


def test_a_relation_as_a_table_and_the_verdict_of_a_clean_dump(clean):
    ds, report = clean
    assert table(ds.records.select('topic, partition, "offset", key').order("partition, \"offset\""),
                 caption="Records", limit=2).text.splitlines() == [
        "Records (first 2 of 18)", "topic | partition | offset | key", "orders | 0 | 0 | e0", "orders | 0 | 1 | e3"]
    root = ds.datasets[0].root
    start = datetime.utcfromtimestamp(BASE_MS / 1000)
    span = f"{start:%Y-%m-%d %H:%M:%S}–{start + timedelta(seconds=17):%H:%M:%S} UTC"
    assert title_line(ds) == f"Incident review: {root} · cluster synthetic · {span}"
    lines = verdict(ds, report).text.splitlines()
    assert lines[0] == title_line(ds) and lines[1].startswith("Generated ")
    assert lines[2:] == ["no causes: nothing was found",
                         f"Read 1 topic, 3 partitions, 18 records ({span}) from {root}; 1 check ran."]
    assert "Nothing found: no check reported anything." in verdict(ds, report).html
    assert causes_in(report, "duplicates").text == "none found"


def test_the_intro_says_what_is_reviewed(clean):
    ds, _ = clean
    root = ds.datasets[0].root
    assert intro(ds).text.startswith(f"This report reviews the dump in <code>{root}</code>.")
    assert intro(ds, bootstrap="broker:9092", topics=["orders"]).text.startswith(
        f"This report reviews <b>a live dump</b> of orders from broker:9092, written to <code>{root}</code>")
    assert "sample incident" not in intro(ds).text
