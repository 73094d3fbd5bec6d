"""Every notebook runs on the sample incident, notebooks are committed without outputs, and the
plots they show draw what they are given.

The incident-review template is executed by tests/test_report.py (through `evkit demo`); the
focused notebooks run here, headlessly, the way `evkit report` runs them.
"""
from __future__ import annotations

import json
import re

import nbformat
import pandas as pd
import pytest
from support.dumping import dataset_rows

from evkit import plots
from evkit import check
from evkit.reporting.runner import report

from support import REPO
NOTEBOOKS = REPO / "notebooks"
SAMPLE = REPO / "data" / "sports-betting"
CONFIG = REPO / "data" / "sports-betting.toml"
AVRO_SAMPLE = REPO / "data" / "registry-avro"
AVRO_CONFIG = REPO / "data" / "registry-avro.toml"
FOCUSED = {
    "timeline_and_traces.ipynb": ("Timeline and trace lifecycle", ["out_of_order", "silence"], 4),
    "duplicates_and_gaps.ipynb": ("Duplicates and gaps", ["duplicate", "offset_gap", "sequence_gap"], 1),
    "partition_hash.ipynb": ("Partition-hash mismatches", ["split_key", "partitioner", "key_encoding",
                                                           "partition_count_change"], 1),
}


def test_every_notebook_is_executed_by_the_suite():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted([*FOCUSED, "incident_review.ipynb",
                                                                        "registry_formats.ipynb"])


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(path):
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    assert [(cell.outputs, cell.execution_count) for cell in code] == [([], None)] * len(code)
    assert "widgets" not in book.metadata and book.metadata.kernelspec.name == "python3"
    parameters = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(parameters) == 1 and "findings_path = None" in parameters[0].source


@pytest.mark.parametrize("name", sorted(FOCUSED))
def test_focused_notebook_runs_on_the_sample(name, tmp_path):
    title, checks, plots_shown = FOCUSED[name]
    result = report(NOTEBOOKS / name, out=tmp_path, quiet=True)
    expected = check(SAMPLE, checks=checks, config=CONFIG, quiet=True).findings
    assert json.loads(result.findings.read_text()) == expected
    assert result.exit_code == (1 if expected else 0)
    html = result.html.read_text()
    assert re.findall(r'<h1 id="[^"]*">([^<]*)', html) == [title]
    assert len(re.findall(r'<img[^>]* src="data:image/png;base64,', html)) == plots_shown


def test_registry_formats_notebook_analyses_the_avro_sample_like_json(tmp_path):
    """Decoded paths find the sample's duplicate, gap and schema change; ds.values shows typed columns."""
    result = report(NOTEBOOKS / "registry_formats.ipynb", out=tmp_path, quiet=True)
    findings = json.loads(result.findings.read_text())
    assert findings == check(AVRO_SAMPLE, checks=["duplicate", "sequence_gap", "schema_drift"], config=AVRO_CONFIG,
                             quiet=True).findings
    assert sorted((f["check"], f["partition"], f["offsets"], f["event_ids"]) for f in findings) == [
        ("duplicate", 0, [15, 16], ["u3-4"]), ("schema_drift", 0, [28], []), ("schema_drift", 1, [28], []),
        ("sequence_gap", 0, [19, 26], ["u2-5", "u2-7"])]
    executed = nbformat.read(result.notebook, as_version=4)
    typed = next(cell for cell in executed.cells if cell.source.startswith("values = ds.values"))
    assert typed.outputs[0]["text"].splitlines()[0] == str({
        "partition": "INTEGER", "offset": "BIGINT", "schema_id": "BIGINT", "bet_id": "VARCHAR",
        "user": "STRUCT(id VARCHAR, country VARCHAR)", "seq": "BIGINT", "placed_at": "TIMESTAMP WITH TIME ZONE",
        "stake": "DECIMAL(9,2)", "currency": "VARCHAR"})
    failures = next(cell for cell in executed.cells if "FROM decode_failures" in cell.source)
    assert "corrupt_payload" in failures.outputs[0]["data"]["text/plain"]


def test_timeline_draws_each_event_and_each_finding_on_its_lane():
    stamp = pd.Timestamp("2025-11-22T19:00:00Z")
    events = pd.DataFrame({"topic": ["bets", "bets", "odds"], "partition": [1, 0, 0], "entity": ["7", "7", "m"],
                           "timestamp": [stamp + pd.Timedelta(seconds=s) for s in (0, 10, 20)]})
    findings = pd.DataFrame({"check": ["duplicate"], "topic": ["bets"], "partition": [1], "key": [b"7"],
                             "first_ts": [stamp], "last_ts": [stamp + pd.Timedelta(seconds=10)]})
    for lane, lanes, row in (("partition", ["bets/0", "bets/1", "odds/0"], 1), ("entity", ["7", "m"], 0)):
        ax = plots.timeline(events, findings, lane=lane).axes[0]
        assert [label.get_text() for label in ax.get_yticklabels()] == lanes
        dots, marks = ax.collections
        assert sorted(y for _, y in dots.get_offsets()) == sorted(lanes.index(name) for name in (
            ["bets/1", "bets/0", "odds/0"] if lane == "partition" else ["7", "7", "m"]))
        assert [y for _, y in marks.get_offsets()] == [row, row]
        assert [text.get_text() for text in ax.get_legend().get_texts()] == ["event", "duplicate"]


def test_event_rate_and_lateness_count_what_they_are_given():
    stamp = pd.Timestamp("2025-11-22T19:00:00Z")
    events = pd.DataFrame({"topic": ["a", "a", "a", "b"],
                           "timestamp": [stamp + pd.Timedelta(seconds=s) for s in (1, 2, 12, 3)],
                           "event_time": [stamp + pd.Timedelta(seconds=s) for s in (1, 2, 12, -57)]})
    ax = plots.event_rate(events, bucket="10s").axes[0]
    assert {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()} == {"a": [2, 1], "b": [1, 0]}
    ax = plots.lateness(events, bins=3).axes[0]
    outlines = {patch.get_label(): patch.get_xy() for patch in ax.patches}  # step outlines: (lateness s, events)
    assert {label: (xy[:, 0].min(), xy[:, 0].max(), xy[:, 1].max()) for label, xy in outlines.items()} == {
        "a": (-0.5, 0.5, 3), "b": (59.5, 60.5, 1)}


def test_template_takes_its_parameters(tmp_path):
    checks = ["duplicate", "sequence_gap"]
    result = report(NOTEBOOKS / "incident_review.ipynb", out=tmp_path, quiet=True, parameters=[
        'window=["2025-11-22T19:05:00Z", "2025-11-22T19:10:00Z"]', 'entities=["1100"]', f"checks={json.dumps(checks)}",
        f"dataset={SAMPLE}", f"config={CONFIG}"])
    assert json.loads(result.findings.read_text()) == check(SAMPLE, checks=checks, config=CONFIG, quiet=True).findings
    executed = nbformat.read(result.notebook, as_version=4)
    drill_down = next(cell for cell in executed.cells if cell.source.startswith("focus = entities"))
    followed = sum(1 for row in dataset_rows(SAMPLE, ["value"]) if json.loads(row["value"])["subject"] == "1100")
    assert drill_down.outputs[0]["data"]["text/plain"].startswith(f"Entity 1100: every event (first 40 of {followed:,})")
