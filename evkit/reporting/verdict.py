"""The first screen of a report: what was reviewed, and the causes found, worst first.

`verdict(analysis, report)` returns an object that Jupyter (and the HTML export) shows as that
screen; `verdict_html(...)` the HTML itself. The causes come from `report.causes`
(evkit/analysis/causes.py, docs/causes.md)."""
from __future__ import annotations

from html import escape

from ..analysis.causes import SEVERITY_COLOURS, counts_text


class Verdict:
    """HTML for Jupyter (`_repr_html_`) and a short text form (`__repr__`)."""

    def __init__(self, html: str, text: str):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


def scope_line(analysis) -> str:
    """`data/sports-betting: 5 topics, 20,399 records, 2025-11-22 19:00:00–19:19:59 UTC`."""
    (records, first, last), = analysis.sql('SELECT count(*), min("timestamp"), max("timestamp") FROM records').fetchall()
    topics = analysis.topic_names
    roots = ", ".join(str(ds.root) for ds in analysis.datasets)
    when = ""
    if first is not None:
        same_day = first.date() == last.date()
        when = (f", {first:%Y-%m-%d %H:%M:%S}–{last:%H:%M:%S} UTC" if same_day
                else f", {first:%Y-%m-%d %H:%M:%S} – {last:%Y-%m-%d %H:%M:%S} UTC")
    return f"{roots}: {len(topics)} topic{'s' if len(topics) != 1 else ''}, {records:,} records{when}"


def verdict_html(causes: list[dict], *, scope: str, title: str | None = None, skipped: list[str] = ()) -> str:
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
            f'<li class="evkit-cause" id="cause-{escape(c["id"])}" style="margin:0 0 7px 0;line-height:1.35">'
            f'<span class="evkit-severity" style="display:inline-block;width:5em;font-weight:700;color:{colour}">'
            f'{escape(c["severity"])}</span>'
            f'<span class="evkit-cause-summary">{escape(c["summary"])}</span>'
            f'<div style="margin-left:5em;color:#555;font-size:85%">{escape(when)}{c["total"]:,} '
            f'finding{"s" if c["total"] != 1 else ""} ({escape(counts_text(c))}) · <code>{escape(c["id"])}</code></div></li>')
    notes = "".join(f'<p style="margin:4px 0;color:#9a6700">{escape(line)}</p>' for line in skipped)
    return ('<div class="evkit-verdict" style="font-size:14px">'
            + (f'<h1 style="margin:0 0 2px 0">{escape(title)}</h1>' if title else "") +
            f'<p class="evkit-scope" style="margin:0 0 10px 0;color:#444">{escape(scope)}</p>'
            f'<p style="margin:0 0 6px 0;font-size:115%"><b>{escape(head)}</b></p>'
            f'<ol style="padding-left:1.6em;margin:0">{"".join(items)}</ol>{notes}'
            f'<p style="margin:8px 0 0 0;color:#555;font-size:85%">Every finding, the plots and drill-downs follow; '
            f'what was read (datasets, manifests, field coverage) is in the appendix.</p></div>')


def verdict(analysis, report, *, title: str | None = None) -> Verdict:
    """The report's first screen for `analysis` and its CheckReport `report`: what was reviewed and
    the causes worst first (with `title` as a heading, for use outside a notebook that has one)."""
    from ..analysis.findings import skipped_lines

    scope = scope_line(analysis)
    html = verdict_html(report.causes, title=title, scope=scope, skipped=skipped_lines(report.run, report.skipped))
    text = "\n".join([*([title] if title else []), scope, *report.causes_text()])
    return Verdict(html, text)


def causes_table(report) -> Verdict:
    """The causes as a table that reads like a report: nothing cut off, one row per cause."""
    rows = []
    for n, c in enumerate(report.causes, 1):
        colour = SEVERITY_COLOURS.get(c["severity"], "#333")
        where = "; ".join(f"{t} {','.join(map(str, ps))}" if ps else t
                          for t, ps in ((t, c["partitions"].get(t, [])) for t in c["topics"]))
        rows.append(
            f'<tr><td style="text-align:right;vertical-align:top">{n}</td>'
            f'<td style="vertical-align:top;color:{colour};font-weight:700">{escape(c["severity"])}</td>'
            f'<td style="text-align:left;vertical-align:top;white-space:normal;max-width:46em">{escape(c["summary"])}</td>'
            f'<td style="text-align:left;vertical-align:top;white-space:normal">{escape(where)}</td>'
            f'<td style="text-align:left;vertical-align:top;white-space:normal">{escape(", ".join(c["producers"]) or "—")}</td>'
            f'<td style="text-align:right;vertical-align:top">{c["total"]:,}</td>'
            f'<td style="text-align:left;vertical-align:top;white-space:normal">{escape(counts_text(c))}</td>'
            f'<td style="vertical-align:top;white-space:nowrap">{escape((c.get("first_ts") or "")[11:19])}–'
            f'{escape((c.get("last_ts") or "")[11:19])}</td></tr>')
    head = "".join(f'<th style="text-align:left">{h}</th>' for h in
                   ("#", "severity", "cause", "topics / partitions", "producers", "findings", "by check", "UTC"))
    html = (f'<table class="evkit-causes"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            if rows else "<p>No causes: no check reported anything.</p>")
    return Verdict(html, "\n".join(report.causes_text()))
