"""evkit report / evkit demo: the executed notebook, an offline HTML report that renders in headless
Chromium, findings.json equal to the sample incident's documented ground truth (data/README.md), and
exit codes as `evkit check` (0 nothing at or above --fail-on, 1 findings, 2 error)."""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from html import escape
from pathlib import Path

import nbformat
import pytest
from support.analysis_data import clean_stream, write
from support.dumping import dataset_rows

from evkit import check
from evkit.cli import main
from evkit.errors import UsageError
from evkit.reporting.runner import prepare_review, report
from evkit.sample.synth import synth

from support import REPO
SAMPLE = REPO / "data" / "sports-betting"
SECTIONS = ["1. Causes", "2. Timeline", "3. Duplicates", "4. Gaps", "5. Ordering", "6. Partition hashing",
            "7. Schema", "8. Rules", "Appendix: what was read"]
# The sample's eight injected incidents, one cause each, worst first (data/README.md, docs/causes.md).
SAMPLE_CAUSES = ["partitioner", "lost_events", "republication", "key_encoding", "late_events", "schema_change",
                 "rate_burst", "growing_value"]
PLOT = r'<img[^>]* src="data:image/png;base64,([^"]+)"'


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """`evkit demo` run once, as a user runs it (`make demo`)."""
    out = tmp_path_factory.mktemp("report") / "demo"
    done = subprocess.run([sys.executable, "-m", "evkit.cli", "demo", "--out", str(out), "--quiet"],
                          check=False, capture_output=True, text=True, timeout=600)
    return out, done


@pytest.fixture(scope="module")
def sample_truth(tmp_path_factory) -> dict:
    """The ground truth synth returns for the committed sample (test_synth checks data/ is its output)."""
    return synth(tmp_path_factory.mktemp("truth") / "sample", seed=7, quiet=True)["incidents"]


def write_notebook(path: Path, *sources: str, parameters: str = "findings_path = None") -> Path:
    cells = [nbformat.v4.new_code_cell(parameters)] + [nbformat.v4.new_code_cell(s) for s in sources]
    cells[0].metadata["tags"] = ["parameters"]
    book = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "language": "python",
                                                                          "display_name": "Python 3"}})
    nbformat.write(book, path)
    return path


def findings_notebook(path: Path, severities: list[str]) -> Path:
    findings = [{"check": "duplicate", "severity": s, "topic": "t", "partition": 0, "key": None, "offsets": [n],
                 "event_ids": [], "first_ts": None, "last_ts": None, "detail": f"finding {n}"}
                for n, s in enumerate(severities)]
    return write_notebook(path, f"from evkit.reporting.runner import write_findings\nwrite_findings({findings!r}, findings_path)")


def test_demo_prints_the_html_report_last_and_exits_0(demo):
    out, done = demo
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == str(out / "incident_review.html")
    assert sorted(p.name for p in out.iterdir()) == [
        "findings.json", "incident_review.html", "incident_review.ipynb", "summary.json"]


def test_html_report_has_the_sections_images_and_no_code(demo):
    html = (demo[0] / "incident_review.html").read_text()
    assert re.findall(r'<h2 id="[^"]*">([^<]*)', html) == SECTIONS
    images = re.findall(PLOT, html)
    assert len(images) == 10  # event rate, 3 timelines, value sizes, lateness, keys x partitions, 3 rules
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org", "")
    assert "evkit.open(" not in html and "prepare_review" not in html and "Traceback" not in html


def test_html_report_renders_in_headless_chromium(demo, tmp_path):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: `make test` installs it when run as root, else `apt-get install chromium`")
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--dump-dom",
         (demo[0] / "incident_review.html").as_uri()],
        check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    assert re.findall(r'<h2 id="[^"]*">([^<]*)', done.stdout) == SECTIONS
    assert len(re.findall(PLOT, done.stdout)) == 10


# Run in a copy of the report (the report itself has no script): where each cause's summary sits.
VIEWPORT_PROBE = """<script>
window.addEventListener('load', () => {
  const causes = [...document.querySelectorAll('.evkit-verdict .evkit-cause-summary')].map(e => {
    const r = e.getBoundingClientRect();
    return {text: e.textContent, top: r.top + window.scrollY, bottom: r.bottom + window.scrollY};
  });
  const pre = document.createElement('pre');
  pre.id = 'evkit-viewport';
  pre.textContent = JSON.stringify({width: window.innerWidth, causes: causes});
  document.body.appendChild(pre);
});
</script>"""


def test_the_first_screen_holds_every_cause_worst_first(demo, tmp_path):
    """A reviewer opening the report at 1280x800 sees every cause's summary without scrolling."""
    from html import unescape

    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is missing: `make test` installs it when run as root, else `apt-get install chromium`")
    summary = json.loads((demo[0] / "summary.json").read_text())
    assert [c["kind"] for c in summary["causes"]] == SAMPLE_CAUSES
    probe = tmp_path / "probe.html"
    probe.write_text((demo[0] / "incident_review.html").read_text().replace("</body>", VIEWPORT_PROBE + "</body>"))
    done = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,800", "--dump-dom", probe.as_uri()],
        check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    shown = json.loads(unescape(re.search(r'<pre id="evkit-viewport">(.*?)</pre>', done.stdout, re.S).group(1)))
    assert shown["width"] == 1280
    assert [c["text"] for c in shown["causes"]] == [c["summary"] for c in summary["causes"]]
    assert [c["text"] for c in shown["causes"] if c["bottom"] > 800] == []


def test_the_report_is_titled_and_each_cause_highlighted_where_the_verdict_links(demo):
    html = (demo[0] / "incident_review.html").read_text()
    root = SAMPLE.relative_to(Path.cwd()) if SAMPLE.is_relative_to(Path.cwd()) else SAMPLE
    title = f"Incident review: {root} · cluster synthetic · 2025-11-22 19:00:00–19:20:05 UTC"
    assert re.findall(r"<title>(.*?)</title>", html) == [escape(title)]
    causes = json.loads((demo[0] / "summary.json").read_text())["causes"]
    for cause in causes:  # linked from the verdict and the causes table, shown once, highlighted, in its section
        assert html.count(f'href="#cause-{cause["id"]}"') == 2
        assert html.count(f'id="cause-{cause["id"]}"') == 1
    boxes = re.findall(r'<h2 id="[^"]*">([^<]*)|<div class="evkit-cause-box" id="cause-([^"]+)"', html)
    section, seen = None, {}
    for heading, cause in boxes:
        section = heading or section
        if cause:
            seen[cause] = section
    assert [seen[c["id"]] for c in causes] == ["6. Partition hashing", "4. Gaps", "3. Duplicates",
                                                "6. Partition hashing", "5. Ordering", "7. Schema", "8. Rules", "8. Rules"]
    assert "This report reviews <b>evkit's sample incident</b>" in html
    assert "Offset gaps</b>: none found." in html and "Duplicated events (first 15 of 120)" in html
    assert "bytearray(" not in html and "0 days" not in html and 'class="dataframe"' not in html


def test_findings_json_is_what_evkit_check_reports(demo):
    written = json.loads((demo[0] / "findings.json").read_text())
    checked = check(SAMPLE, config=REPO / "data" / "sports-betting.toml", quiet=True)
    assert written == checked.findings


def test_findings_are_exactly_the_documented_incidents(demo, sample_truth):
    """data/README.md's ground truth, derived here from what synth injected."""
    findings = json.loads((demo[0] / "findings.json").read_text())
    by_check = defaultdict(list)
    for finding in findings:
        by_check[(finding["check"], finding["severity"])].append(finding)
    assert Counter({key: len(found) for key, found in by_check.items()}) == Counter({
        ("sequence_gap", "error"): 4, ("duplicate", "warning"): 121, ("sequence_regression", "warning"): 7,
        ("silence", "warning"): 1, ("out_of_order", "warning"): 494, ("split_key", "error"): 340,
        ("key_encoding", "warning"): 207, ("partitioner", "warning"): 3,
        ("rate", "warning"): 1, ("size", "warning"): 1, ("flow", "warning"): 2, ("schema_drift", "warning"): 5,
    })
    # lost_events: one lost (not unseen) hole per dropped bet
    lost = sample_truth["lost_events"]
    assert {(f["topic"], f["key"], f["detail"].split(" misses sequence ")[1].split("..")[0])
            for f in by_check[("sequence_gap", "error")]} == {("bets", e["subject"], str(e["sequence"])) for e in lost}
    # republished_range: every copy paired with its original, and the burst as one re-publication
    republished = sample_truth["republished_range"]
    duplicates = by_check[("duplicate", "warning")]
    assert sorted(f["offsets"] for f in duplicates if f["detail"].startswith("logical duplicate")) == [
        [a, b] for a, b in zip(republished["original_offsets"], republished["copy_offsets"])]
    bursts = [f for f in duplicates if f["detail"].startswith("re-publication")]
    assert [(f["topic"], f["partition"], f["offsets"]) for f in bursts] == [
        ("odds-updates", 2, republished["copy_offsets"])]
    # late_events + republished copies: event-time regressions and sequence regressions
    late = sample_truth["late_events"]
    regressions = {(f["topic"], f["partition"], f["offsets"][-1]) for f in by_check[("out_of_order", "warning")]
                   if "split over" not in f["detail"]}
    assert regressions == {(e["topic"], e["partition"], e["offset"]) for e in late} | {
        ("odds-updates", 2, offset) for offset in republished["copy_offsets"]}
    sequence_regressions = {(f["topic"], f["key"]) for f in by_check[("sequence_regression", "warning")]}
    copied_entities = {json.loads(r["value"])["subject"] for r in dataset_rows(SAMPLE)
                       if r["topic"] == "odds-updates" and r["offset"] in republished["copy_offsets"][:5]
                       and r["partition"] == 2}
    assert sequence_regressions == {(e["topic"], e["subject"]) for e in late} | {
        ("odds-updates", entity) for entity in copied_entities}
    # foreign_partitioner + int_keys: every user whose bets records sit on several partitions
    partitions = defaultdict(set)
    for row in dataset_rows(SAMPLE, ["topic", "partition", "value"]):
        if row["topic"] == "bets":
            partitions[json.loads(row["value"])["subject"]].add(row["partition"])
    assert {f["key"] for f in by_check[("out_of_order", "warning")] if "split over" in f["detail"]} == {
        user for user, seen in partitions.items() if len(seen) > 1}
    # foreign_partitioner: every text key that the two partitioners put on different partitions
    bets = [r for r in dataset_rows(SAMPLE) if r["topic"] == "bets"]
    key_partitions = defaultdict(set)
    for row in bets:
        key_partitions[row["key"]].add(row["partition"])
    assert {f["key"] for f in by_check[("split_key", "error")]} == {
        key.decode() for key, seen in key_partitions.items() if len(seen) > 1}
    assert sorted(re.match(r"producer '([^']+)' .* placed by (\S+),", f["detail"]).groups()
                  for f in by_check[("partitioner", "warning")]) == [
        ("bet-service", "java_murmur2"), ("cashout-service", "java_murmur2"),
        ("settlement-service", "sarama_hash/librdkafka_fnv1a")]  # identical formulas for 6 partitions
    # int_keys: every user whose cash-outs were keyed by a 4-byte integer
    assert sorted(re.match(r"logical key (\d+) ", f["detail"]).group(1) for f in by_check[("key_encoding", "warning")]) == sorted(
        {json.loads(r["value"])["subject"] for r in bets if r["key"] != json.loads(r["value"])["subject"].encode()})
    # auth_burst: the attacked account falls silent after 400 attempts in 40 s
    assert [(f["topic"], f["key"]) for f in by_check[("silence", "warning")]] == [("auth-attempts", "1337")]
    # auth_burst, by the config's rate rule login_attempts: user 1337's busiest second lies inside the burst
    [rate] = by_check[("rate", "warning")]
    burst = sorted(r["offset"] for r in dataset_rows(SAMPLE) if r["topic"] == "auth-attempts"
                   and json.loads(r["value"])["type"] == "login_failed" and json.loads(r["value"])["subject"] == "1337")
    assert (rate["topic"], rate["partition"], rate["key"]) == ("auth-attempts", 0, "1337")
    assert burst[0] <= rate["offsets"][0] < rate["offsets"][1] <= burst[-1] and " 10 events in 1s " in rate["detail"]
    # growing_document: user 1100's account document, from its first version to its last
    versions = sorted(r["offset"] for r in dataset_rows(SAMPLE) if r["topic"] == "accounts" and r["key"] == b"1100")
    assert [(f["topic"], f["partition"], f["key"], f["offsets"]) for f in by_check[("size", "warning")]] == [
        ("accounts", 1, "1100", [versions[0], versions[-1]])]
    # republished_range, by the config's flow goal_repriced: a goal whose repricing was re-sent is repriced twice
    copies = dict(zip(republished["copy_offsets"], republished["original_offsets"]))
    repeated = by_check[("flow", "warning")]
    assert len(repeated) == 2 and all(f["topic"] == "match-events" and len(f["offsets"]) == 3
                                      and copies.get(f["offsets"][2]) == f["offsets"][1] for f in repeated)
    # schema_change: one deploy, one change_id, from the first v2 record (string price, a currency) of each partition
    v2 = defaultdict(list)
    for row in dataset_rows(SAMPLE):
        if row["topic"] == "odds-updates" and "currency" in json.loads(row["value"])["data"]:
            v2[row["partition"]].append(row["offset"])
    drift = by_check[("schema_drift", "warning")]
    assert sorted((f["topic"], f["partition"], f["offsets"], f["facts"]["records"]) for f in drift) == [
        ("odds-updates", p, [min(offsets)], len(offsets)) for p, offsets in sorted(v2.items())]
    assert len({f["facts"]["change_id"] for f in drift}) == 1 and all(
        (f["facts"]["producer"], f["facts"]["subject"], f["facts"]["compatibility"], f["facts"]["changes"]) == (
            "odds-engine", None, None,
            [{"path": "$.data.currency", "change": "added", "from": None, "to": "string"},
             {"path": "$.data.price", "change": "type_changed", "from": "number", "to": "string"}]) for f in drift)


@pytest.mark.parametrize("fail_on, exit_code", [("info", 1), ("warning", 1), ("error", 0)])
def test_exit_code_follows_fail_on(fail_on, exit_code, tmp_path, capsys):
    notebook = findings_notebook(tmp_path / "two.ipynb", ["info", "warning"])
    assert main(["report", str(notebook), "--out", str(tmp_path / "out"), "--fail-on", fail_on, "--quiet"]) == exit_code
    assert capsys.readouterr().out.splitlines() == [
        f"findings: 0 error, 1 warning, 1 info ({tmp_path / 'out' / 'findings.json'})", str(tmp_path / "out" / "two.html")]


def test_parameters_reach_the_notebook(tmp_path):
    notebook = write_notebook(tmp_path / "params.ipynb",
                              "from evkit.reporting.runner import write_findings\n"
                              "write_findings([{'severity': 'info', 'detail': f'{name}:{count + 1}:{items}'}], findings_path)",
                              parameters="findings_path = None\nname = 'x'\ncount = 0\nitems = []")
    result = report(notebook, out=tmp_path / "out", parameters=["name=data/x", "count=41", 'items=["a", 2]'],
                          quiet=True)
    assert json.loads(result.findings.read_text()) == [{"severity": "info", "detail": "data/x:42:['a', 2]"}]
    assert (result.exit_code, result.counts) == (0, {"info": 1, "warning": 0, "error": 0})


def test_a_failing_run_is_one_line_exit_2_and_leaves_no_report_that_looks_current(tmp_path, capsys):
    notebook, out = tmp_path / "nightly.ipynb", tmp_path / "out"
    findings_notebook(notebook, ["error"])
    assert main(["report", str(notebook), "--out", str(out), "--quiet"]) == 1
    write_notebook(notebook, "raise ValueError('the dataset is gone')")
    assert main(["report", str(notebook), "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"evkit: error: {notebook} failed at In [3]: ValueError: the dataset is gone; "
        f"the executed notebook is {out / 'nightly.failed.ipynb'}")
    assert sorted(p.name for p in out.iterdir()) == ["nightly.failed.ipynb"]


def test_a_cell_running_past_the_timeout_is_exit_2(tmp_path, capsys):
    notebook = write_notebook(tmp_path / "slow.ipynb", "import time\ntime.sleep(30)")
    assert main(["report", str(notebook), "--out", str(tmp_path / "out"), "--timeout", "2", "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"evkit: error: {notebook}: a cell ran longer than --timeout 2 s; "
        f"the executed notebook is {tmp_path / 'out' / 'slow.failed.ipynb'}")


def test_a_notebook_without_findings_is_an_error(tmp_path, capsys):
    notebook = write_notebook(tmp_path / "silent.ipynb", "1 + 1")
    assert main(["report", str(notebook), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"evkit: error: {notebook} wrote no findings: it must take a findings_path parameter and call write_findings")


@pytest.mark.parametrize("args, message", [
    (["missing.ipynb", "--out", "OUT"], "notebook missing.ipynb does not exist"),
    (["NB", "--out", "OUT", "-p", "no value"], "-p 'no value': expected NAME=VALUE with NAME a Python identifier"),
    (["NB", "--out", "OUT", "--kernel-name", "cobol"], "no Jupyter kernel named 'cobol'; `make venv` registers python3"),
])
def test_bad_invocations_are_one_line_errors(args, message, tmp_path, capsys):
    notebook = findings_notebook(tmp_path / "nb.ipynb", [])
    args = [{"OUT": str(tmp_path / "out"), "NB": str(notebook)}.get(a, a) for a in args]
    assert main(["report", *args, "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == f"evkit: error: {message}"
    assert not (tmp_path / "out" / "findings.json").exists()


def test_a_live_review_needs_a_dataset_directory_and_topics():
    with pytest.raises(UsageError, match="^a live review needs dataset \\(the directory to dump into\\) and topics$"):
        prepare_review(bootstrap="127.0.0.1:1", topics=["bets"])


def test_public_functions_survive_their_modules_being_imported():
    import evkit
    import evkit.cluster.dumper  # what prepare_review does inside a notebook
    import evkit.reporting.runner
    import evkit.sample.synth

    assert (evkit.report, evkit.synth, evkit.dump.__name__) == (report, synth, "dump")


def test_an_unknown_parameter_is_a_usage_error_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    notebook = REPO / "notebooks" / "incident_review.ipynb"
    assert main(["report", str(notebook), "-p", "datset=DIR", "--out", str(out), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"evkit: error: -p datset: {notebook} has no parameter 'datset' (did you mean dataset?); its parameters "
        "are bootstrap, checks, client_config_file, config, dataset, end, entities, fields, findings_path, start, "
        "topics, window\n")
    with pytest.raises(UsageError, match=r"^-p colour: .* has no parameter 'colour'; its parameters are findings_path$"):
        report(findings_notebook(tmp_path / "nb.ipynb", []), out=out, parameters={"colour": "red"}, quiet=True)
    assert not out.exists()


def test_the_report_shows_the_checks_it_skipped(tmp_path, capsys):
    root = write(tmp_path / "ds", clean_stream())
    out = tmp_path / "out"
    notebook = REPO / "notebooks" / "duplicates_and_gaps.ipynb"
    assert main(["report", str(notebook), "-p", f"dataset={root}", "-p", 'fields={"event_id": "$.id"}',
                 "--out", str(out), "--quiet"]) == 0
    skipped = ("skipped sequence_gap, sequence_regression: no topic maps a sequence field "
               "(--field sequence=SOURCE or [topics.<t>] sequence = SOURCE)")
    assert capsys.readouterr().out.splitlines() == [
        f"findings: 0 error, 0 warning, 0 info ({out / 'findings.json'})", skipped, str(out / "duplicates_and_gaps.html")]
    assert f"<pre>0 finding(s)\noffset gaps: none\n{escape(skipped)}\n</pre>" in (
        out / "duplicates_and_gaps.html").read_text()
    assert json.loads((out / "summary.json").read_text())["run"] == ["duplicate", "offset_gap"]
