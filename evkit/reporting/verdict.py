"""A report's first screen, and where each cause is shown after it.

`verdict(analysis, report)` is the first screen: a title with the dataset, cluster and time range
(the HTML export takes it as the page's <title>), when it was generated, the causes worst first
(evkit/analysis/causes.py, docs/causes.md), each linking to its place in the report, and one line of
what was read. `intro(...)` says what the report reviews (the sample, a live dump, a dataset);
`causes_in(report, section)` shows, highlighted, the causes a section explains, with their findings.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from html import escape
from pathlib import Path

from .. import __version__
from ..analysis.causes import SEVERITY_COLOURS, counts_text, to_html
from .tables import Shown, table

# The report section that explains each kind of cause (a cause of one check has that check's kind).
SECTION_OF = {
    "republication": "duplicates", "duplicate": "duplicates",
    "lost_events": "gaps", "sequence_gap": "gaps", "offset_gap": "gaps",
    "late_events": "ordering", "out_of_order": "ordering", "sequence_regression": "ordering",
    "silence": "timeline", "field_coverage": "timeline",
    "partitioner": "hashing", "key_encoding": "hashing", "partition_count_change": "hashing", "split_key": "hashing",
    "schema_change": "schema", "schema_drift": "schema",
    "rate_burst": "rules", "growing_value": "rules", "rate": "rules", "size": "rules", "flow": "rules",
    "custom": "rules",
}
HIGHLIGHT = {"error": "#fdecee", "warning": "#fff6e0", "info": "#e8f1fb"}


def section_of(cause: dict) -> str:
    return SECTION_OF.get(cause["kind"], "timeline")


def roots_text(analysis) -> str:
    """The datasets' directories, relative to the current directory when inside it; S3 prefixes as
    `s3://bucket/prefix`, without the URL's options."""
    def shown(root) -> str:
        if not isinstance(root, Path):
            return str(root)
        try:
            return str(root.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(root)
    return ", ".join(shown(ds.root) for ds in analysis.datasets)


def _time_range(analysis) -> tuple[datetime | None, datetime | None, int]:
    (records, first, last), = analysis.sql('SELECT count(*), min("timestamp"), max("timestamp") FROM records').fetchall()
    return first, last, records


def _span(first: datetime | None, last: datetime | None) -> str:
    if first is None:
        return "no records"
    if first.date() == last.date():
        return f"{first:%Y-%m-%d %H:%M:%S}–{last:%H:%M:%S} UTC"
    return f"{first:%Y-%m-%d %H:%M:%S} – {last:%Y-%m-%d %H:%M:%S} UTC"


def is_sample(analysis) -> bool:
    from .runner import SAMPLE_DATASET

    return [isinstance(ds.root, Path) and ds.root.resolve() for ds in analysis.datasets] == [SAMPLE_DATASET.resolve()]


def title_line(analysis, *, kind: str = "Incident review") -> str:
    """`Incident review: data/sports-betting · cluster synthetic · 2025-11-22 19:00:00–19:20:05 UTC`."""
    first, last, _ = _time_range(analysis)
    roots = roots_text(analysis)
    clusters = ", ".join(sorted({ds.cluster_id for ds in analysis.datasets}))
    return f"{kind}: {roots} · cluster {clusters} · {_span(first, last)}"


def scope_line(analysis, report=None) -> str:
    """What was read, in one line: `Read 5 topics, 21 partitions, 20,399 records (2025-11-22 19:00:00–19:20:05 UTC)
    from data/sports-betting; 13 checks ran, 2 skipped.`"""
    first, last, records = _time_range(analysis)
    (topics, partitions), = analysis.sql(
        "SELECT count(DISTINCT (cluster_id, topic)), count(DISTINCT (cluster_id, topic, partition)) FROM manifests").fetchall()
    roots = roots_text(analysis)
    line = (f"Read {topics} topic{'s' if topics != 1 else ''}, {partitions} partition{'s' if partitions != 1 else ''}, "
            f"{records:,} records ({_span(first, last)}) from {roots}")
    if report is not None:
        line += f"; {len(report.run)} check{'s' if len(report.run) != 1 else ''} ran"
        if report.skipped:
            line += f", {len(report.skipped)} skipped (below)"
    return line + "."


def verdict_html(causes: list[dict], *, title: str, generated: str, scope: str, skipped: Iterable[str] = ()) -> str:
    total = sum(c["total"] for c in causes)
    if causes:
        head = (f"{len(causes)} cause{'s explain' if len(causes) != 1 else ' explains'} "
                f"{total:,} finding{'s' if total != 1 else ''}, worst first:")
    else:
        head = "Nothing found: no check reported anything."
    items = []
    for c in causes:
        colour = SEVERITY_COLOURS.get(c["severity"], "#333")
        when = f"{c['first_ts'][11:19]}–{c['last_ts'][11:19]} UTC · " if c.get("first_ts") and c.get("last_ts") else ""
        items.append(
            f'<li class="evkit-cause" style="margin:0 0 6px 0;line-height:1.3">'
            f'<span class="evkit-severity" style="display:inline-block;width:5.4em;font-weight:700;color:{colour}">'
            f'{escape(c["severity"])}</span>'
            f'<a class="evkit-cause-summary" href="#cause-{escape(c["id"])}" style="color:inherit">{escape(c["summary"])}</a>'
            f'<div style="margin-left:5.4em;color:#555;font-size:85%">{escape(when)}{c["total"]:,} '
            f'finding{"s" if c["total"] != 1 else ""}: {escape(counts_text(c))}</div></li>')
    notes = "".join(f'<p style="margin:2px 0;color:#9a6700;font-size:85%">{escape(line)}</p>' for line in skipped)
    return ('<div class="evkit-verdict" style="font-size:14px">'
            f'<h1 class="evkit-title" style="margin:0 0 2px 0;font-size:22px">{escape(title)}</h1>'
            f'<p style="margin:0 0 8px 0;color:#666;font-size:85%">{escape(generated)}</p>'
            f'<p style="margin:0 0 6px 0;font-size:112%"><b>{escape(head)}</b></p>'
            f'<ol style="padding-left:1.6em;margin:0">{"".join(items)}</ol>'
            f'<p class="evkit-scope" style="margin:8px 0 0 0;color:#444">{escape(scope)}</p>{notes}</div>')


def verdict(analysis, report, *, kind: str = "Incident review") -> Shown:
    """The report's first screen for `analysis` and its CheckReport `report`: title (dataset, cluster,
    time range), generation time, the causes worst first with a link to each one's section, what was read."""
    from ..analysis.findings import skipped_lines

    title = title_line(analysis, kind=kind)
    generated = f"Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by evkit {__version__}"
    scope = scope_line(analysis, report)
    skipped = skipped_lines(report.run, report.skipped)
    html = verdict_html(report.causes, title=title, generated=generated, scope=scope, skipped=skipped)
    return Shown(html, "\n".join([title, generated, *report.causes_text(), scope, *skipped]))


def intro(analysis, *, bootstrap: str | None = None, topics: Iterable[str] = ()) -> Shown:
    """What this report reviews, in words that fit it: the sample incident, a live dump, or a dataset."""
    roots = roots_text(analysis)
    if is_sample(analysis):
        what = ("This report reviews <b>evkit's sample incident</b>: a sports-betting system's event log with eight "
                "injected incidents, whose ground truth is in <code>data/README.md</code>. To review your own dump, "
                "run <code>evkit report notebooks/incident_review.ipynb -p dataset=DIR --out reports/x</code> "
                "(or give <code>bootstrap</code> and <code>topics</code> to dump a live cluster first).")
    elif bootstrap:
        what = (f"This report reviews <b>a live dump</b> of {escape(', '.join(topics))} from {escape(bootstrap)}, "
                f"written to <code>{escape(roots)}</code> when the report ran; rerunning it dumps again.")
    else:
        what = f"This report reviews the dump in <code>{escape(roots)}</code>."
    how = ("It reads top-down: the <b>verdict</b> (the causes, worst first), the <b>causes</b> table, the "
           "<b>timeline</b>, then <b>duplicates</b>, <b>gaps</b>, <b>ordering</b>, <b>partition hashing</b>, "
           "<b>schema</b> and the analyst's <b>rules</b>, each cause highlighted in the section that explains it; "
           "what was read (field coverage, manifests) is in the appendix. How findings become causes: "
           "<code>docs/causes.md</code>.")
    return Shown(f'<p class="evkit-intro">{what} {how}</p>', f"{what} {how}")


def causes_table(report) -> Shown:
    """The causes as a table that reads like a report: nothing cut off, one row per cause, each
    linking to its section."""
    return Shown(to_html(report.causes, link=True), "\n".join(report.causes_text()))


def section_causes(report, section: str) -> list[dict]:
    """The causes (worst first) that `section` of the report explains, each with its `number` in the report."""
    return [dict(c, number=n) for n, c in enumerate(report.causes, 1) if section_of(c) == section]


def causes_in(report, section: str, *, rows: int = 8) -> Shown:
    """The causes `section` explains, each highlighted (the verdict links here) with its first
    findings; "none found" when there are none."""
    causes = section_causes(report, section)
    if not causes:
        return Shown('<p class="evkit-section-causes">No cause in this section: none found.</p>', "none found")
    number = {c["id"]: c["number"] for c in causes}
    by_cause: dict[str, list[dict]] = {}
    for f in report.findings:
        by_cause.setdefault(f.get("cause"), []).append(f)
    parts, text = [], []
    for c in causes:
        colour = SEVERITY_COLOURS.get(c["severity"], "#333")
        where = "; ".join(f"{t} {','.join(map(str, c['partitions'][t]))}" if c["partitions"].get(t) else t
                          for t in c["topics"])
        extent = [f"{c['total']:,} finding{'s' if c['total'] != 1 else ''}: {counts_text(c)}", where]
        if c["producers"]:
            extent.append("producers " + ", ".join(c["producers"]))
        if c.get("first_ts") and c.get("last_ts"):
            extent.append(f"{c['first_ts'][11:19]}–{c['last_ts'][11:19]} UTC")
        findings = [{"check": f["check"], "severity": f["severity"],
                     "where": f["topic"] if f["partition"] is None else f"{f['topic']}/{f['partition']}",
                     "key": f["key"], "offsets": f["offsets"], "detail": f["detail"]}
                    for f in by_cause.get(c["id"], [])]
        shown = table(findings, caption=f"Findings of cause {number[c['id']]}", limit=rows)
        parts.append(
            f'<div id="cause-{escape(c["id"])}" class="evkit-cause-box" style="border-left:5px solid {colour};'
            f'background:{HIGHLIGHT.get(c["severity"], "#f4f4f4")};padding:6px 12px;margin:10px 0">'
            f'<p style="margin:0"><b style="color:{colour}">Cause {number[c["id"]]} · {escape(c["severity"])}</b> '
            f'<span class="evkit-cause-summary">{escape(c["summary"])}</span></p>'
            f'<p style="margin:2px 0 6px 0;color:#555;font-size:85%">{escape(" · ".join(extent))} · '
            f'<code>{escape(c["id"])}</code></p>{shown.html}</div>')
        text += [f"Cause {number[c['id']]} [{c['severity']}] {c['summary']}", shown.text]
    return Shown("".join(parts), "\n".join(text))
