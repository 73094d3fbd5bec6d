"""What a run of checks found: findings as JSON-ready dicts, and the report with its summary, text
and exit code."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from .._text import SEVERITY_RANK, iso_utc, key_text


def finding_to_json(row: Mapping[str, Any]) -> dict:
    """A findings row as a JSON-ready dict: key as text where valid UTF-8, else base64 + key_encoding."""
    out = {name: row[name] for name in ("check", "severity", "topic", "partition")}
    out["key"], encoding = key_text(row["key"])
    if encoding is not None:
        out["key_encoding"] = encoding
    out["offsets"] = list(row["offsets"] or [])
    out["event_ids"] = list(row["event_ids"] or [])
    for name in ("first_ts", "last_ts"):
        value = row[name]
        out[name] = iso_utc(value) if isinstance(value, datetime) else value
    out["detail"] = row["detail"]
    if row.get("facts") is not None:  # structured facts for grouping into causes (docs/causes.md)
        out["facts"] = json.loads(row["facts"]) if isinstance(row["facts"], str) else row["facts"]
    return out


# Offset-gap classifications (evkit/analysis/sql/offset_gap.sql) as nouns for the text summary, in display order.
GAP_NOUNS = {"transaction_marker": "transaction marker", "transaction_aborted": "aborted transaction",
             "compaction": "compacted range", "retention": "retention hole", "not_dumped": "undumped range",
             "unexplained": "unexplained gap"}


@dataclass
class CheckReport:
    """What `evkit.check` found: findings (JSON-ready dicts, worst first), coverage, what ran and what
    was skipped (finding name -> topics not checked and why), offset gaps by classification (None when
    offset_gap was not selected), the records read, and the exit code."""

    findings: list[dict]
    coverage: list[tuple]
    fail_on: str
    records: int
    run: list[str]
    skipped: dict[str, dict]
    offset_gaps: dict[str, int] | None
    causes: list[dict] = field(default_factory=list)  # docs/causes.md, worst first; each finding has its `cause`
    masked: list[dict] = field(default_factory=list)  # per masked dataset: its path and key fingerprint (docs/sharing.md)

    @property
    def summary(self) -> dict:
        """Records read, finding counts per check run and severity, skipped checks, offset gaps, and
        (only when some dataset is masked) which datasets are masked with which key."""
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        return {"records": self.records, "run": self.run, "skipped": self.skipped,
                "findings": {name: {s: counts[name, s] for s in reversed(SEVERITY_RANK)} for name in self.run},
                "offset_gaps": self.offset_gaps,
                "causes": self.causes, **({"masked": self.masked} if self.masked else {})}

    @property
    def exit_code(self) -> int:
        """0 = no finding at or above `fail_on`, 1 = at least one."""
        threshold = SEVERITY_RANK[self.fail_on]
        return int(any(SEVERITY_RANK[f["severity"]] >= threshold for f in self.findings))

    def write_json(self, out: TextIO) -> None:
        """One finding per line, then the summary as the last line: `{"summary": {...}}`."""
        for finding in self.findings:
            out.write(json.dumps(finding, ensure_ascii=False) + "\n")
        out.write(json.dumps({"summary": self.summary}, ensure_ascii=False) + "\n")

    def causes_text(self) -> list[str]:
        """The causes, worst first, two lines each (docs/causes.md)."""
        return causes_lines(self.causes)

    def to_text(self, *, limit: int = 20) -> str:
        """Whether the data is masked, the causes worst first, then counts per check and severity,
        offset gaps, skipped checks, field coverage problems, then the worst findings."""
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        lines = [f"masked: {m['dataset']}, key {m['key_fingerprint'] or '(none: nothing hashed)'}: "
                 "findings show masked keys and values" for m in self.masked]
        lines += self.causes_text() + [""] if self.findings else []
        lines += [f"{len(self.findings)} finding(s)" + (":" if counts else "")]
        lines += [f"  {check:<20} {severity:<8} {n}" for (check, severity), n in sorted(counts.items())]
        if self.offset_gaps is not None:
            lines.append(gaps_line(self.offset_gaps))
        lines += skipped_lines(self.run, self.skipped)
        gaps = [row for row in self.coverage if row[3] and (row[6] or row[8])]
        if gaps:
            lines.append("field coverage (records lacking a field):")
            lines += [f"  {topic} {name} ({source}): {missing} of {records} missing, {undecodable} undecodable, "
                      f"{bad} unparseable" for topic, name, source, _, records, _, missing, undecodable, bad in gaps]
        if self.findings:
            lines.append(f"worst {min(limit, len(self.findings))}:")
            for f in self.findings[:limit]:
                where = f["topic"] if f["partition"] is None else f"{f['topic']}/{f['partition']}"
                lines.append(f"  [{f['severity']}] {f['check']} {where}: {f['detail']}")
        return "\n".join(lines)

    def headline(self) -> str:
        """One line: records, findings by severity, causes and the worst one (cut at 80 characters)."""
        counts = Counter(f["severity"] for f in self.findings)
        by = ", ".join(f"{counts[s]:,} {s}" for s in reversed(SEVERITY_RANK) if counts[s])
        line = (f"{self.records:,} records, {len(self.findings):,} finding{'s' if len(self.findings) != 1 else ''}"
                + (f" ({by})" if by else "") + f", {len(self.causes)} cause{'s' if len(self.causes) != 1 else ''}")
        if self.causes:
            worst = self.causes[0]["summary"]
            line += f"; worst: {worst if len(worst) <= 80 else worst[:79] + '…'}"
        return line

    def __repr__(self) -> str:
        return f"<CheckReport: {self.headline()}; exit code {self.exit_code}>"

    def _repr_html_(self) -> str:
        from html import escape

        from .causes import to_html

        return (f"<p><b>CheckReport</b>: {escape(self.headline().split('; worst:')[0])}; exit code {self.exit_code}. "
                "<code>.findings</code> has every finding, <code>.to_text()</code> the counts.</p>" + to_html(self.causes))


def causes_lines(causes: list[dict]) -> list[str]:
    from .causes import to_text

    return to_text(causes)


def skipped_lines(run: list[str], skipped: dict[str, dict]) -> list[str]:
    """`skipped sequence_gap, sequence_regression[ on TOPICS]: reason`, one line per reason; `on TOPICS`
    when the checks ran on the other topics."""
    by_reason: dict[tuple, list[str]] = {}
    for name, skip in skipped.items():
        by_reason.setdefault((name in run, tuple(skip["topics"]), skip["reason"]), []).append(name)
    return [f"skipped {', '.join(names)}" + (f" on {', '.join(topics)}" if partial else "") + f": {reason}"
            for (partial, topics, reason), names in by_reason.items()]


def gaps_line(gaps: dict[str, int]) -> str:
    """`offset gaps: 60, all explained: 50 transaction markers, 10 aborted transactions`."""
    total = sum(gaps.values())
    if not total:
        return "offset gaps: none"
    verdict = "not all explained" if gaps["unexplained"] else "all explained"
    kinds = ", ".join(f"{n} {GAP_NOUNS[kind]}{'s' if n > 1 else ''}" for kind, n in gaps.items() if n)
    return f"offset gaps: {total}, {verdict}: {kinds}"

