"""Every notebook runs on the sample incident, and notebooks are committed without outputs.

The incident-review template is executed by tests/test_report.py (through `evkit demo`); the
focused notebooks run here, headlessly, the way `evkit report` runs them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from evkit.checks import check
from evkit.report import report

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
SAMPLE = REPO / "data" / "sports-betting"
CONFIG = REPO / "data" / "sports-betting.toml"
FOCUSED = {
    "timeline_and_traces.ipynb": ("Timeline and trace lifecycle", ["out_of_order", "silence"]),
    "duplicates_and_gaps.ipynb": ("Duplicates and gaps", ["duplicate", "offset_gap", "sequence_gap"]),
    "partition_hash.ipynb": ("Partition-hash mismatches", ["split_key", "partitioner", "key_encoding",
                                                           "partition_count_change"]),
}


def test_every_notebook_is_executed_by_the_suite():
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == sorted([*FOCUSED, "incident_review.ipynb"])


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
    title, checks = FOCUSED[name]
    result = report(NOTEBOOKS / name, out=tmp_path, quiet=True)
    expected = check(SAMPLE, checks=checks, config=CONFIG, quiet=True).findings
    assert json.loads(result.findings.read_text()) == expected
    assert result.exit_code == (1 if expected else 0)
    html = result.html.read_text()
    assert re.findall(r'<h1 id="[^"]*">([^<]*)', html) == [title]
    assert html.count("data:image/png;base64,") >= 1
