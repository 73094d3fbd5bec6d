"""The check registry and `evkit.check`: run checks over datasets and report findings with an exit code.

A check is one SQL file `evkit/sql/<name>.sql` that defines the view `<name>_findings` with the
columns of FINDING_COLUMNS, plus one `register(Check(...))` line here. A check may name a
`prepare(dataset)` hook that registers extra relations on `dataset.connection` before its SQL runs.
Check parameters are DuckDB variables `<check>_<param>` set from the config's `[checks.<name>]`; each
SQL file reads them with `coalesce(getvariable(...), default)`.
"""
from __future__ import annotations

import base64
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tqdm.auto import tqdm

from ..partitioning import checks as hashchecks
from ..errors import UsageError

if TYPE_CHECKING:
    from .session import Dataset
    from .fields import FieldConfig

FINDING_COLUMNS = '"check", severity, topic, partition, key, offsets, event_ids, first_ts, last_ts, detail'
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass(frozen=True)
class Check:
    """A registered check: its SQL file name, the finding names it emits, its parameters and hook."""

    name: str
    summary: str
    emits: tuple[str, ...] = ()
    params: tuple[str, ...] = ()  # numeric parameters
    text_params: tuple[str, ...] = ()  # string parameters (names, e.g. a header)
    requires: tuple[str, ...] = ()  # event fields without a default: a topic that maps none is skipped
    prepare: Callable[[Dataset], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.emits:
            object.__setattr__(self, "emits", (self.name,))


CHECKS: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add a check to the registry (a later registration of the same name replaces it)."""
    CHECKS[check.name] = check
    return check


register(Check("field_coverage", "values that are not JSON or lack a mapped field"))
register(Check("duplicate", "the same event stored more than once, and re-published ranges",
               params=("burst_min", "burst_window_ms")))
register(Check("offset_gap", "offsets Kafka did not deliver that nothing explains"))
register(Check("sequence_gap", "missing (lost/unseen) and backwards sequence numbers per entity",
               emits=("sequence_gap", "sequence_regression"), params=("unseen_ms",), requires=("sequence",)))
register(Check("silence", "partitions or entities quiet far longer than their usual interval",
               params=("factor", "min_events", "min_ms")))
register(Check("out_of_order", "event-time regressions per entity and partition; entities split over partitions",
               params=("tolerance_ms",)))
register(Check("split_key", "keys whose records sit in more than one partition of a topic",
               prepare=hashchecks.register_macros))
register(Check("partitioner", "which partitioner each producer used; producers that disagree or fit none",
               params=("min_fit",), text_params=("producer_header",), prepare=hashchecks.register_key_hashes))
register(Check("key_encoding", "one logical key written as different bytes (text, int32/int64, JSON, Schema Registry)",
               prepare=hashchecks.register_macros))
register(Check("partition_count_change", "keys placed for an earlier, smaller partition count: the topic grew",
               params=("min_records",), prepare=hashchecks.prepare_partition_count_change))


def select(names: Iterable[str] | str | None) -> dict[Check, set[str]]:
    """Check -> finding names wanted, for check or finding names (comma-separated string or list)."""
    if names is None:
        return {check: set(check.emits) for check in CHECKS.values()}
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    selected: dict[Check, set[str]] = {}
    for name in names:
        owner = CHECKS.get(name) or next((c for c in CHECKS.values() if name in c.emits), None)
        if owner is None:
            known = sorted({n for c in CHECKS.values() for n in (c.name, *c.emits)})
            raise UsageError(f"unknown check {name!r}; checks are {', '.join(known)}")
        selected.setdefault(owner, set()).update(owner.emits if name == owner.name else {name})
    if not selected:
        raise UsageError("no checks selected")
    return selected


def skipped_topics(check: Check, topics: Iterable[str], fields: FieldConfig) -> list[str]:
    """The topics `check` cannot run on: they lack a field it requires."""
    return [topic for topic in topics if not set(check.requires) <= fields.sources(topic).keys()]


def skip_reason(check: Check, *, partial: bool) -> str:
    """Why `check` did not run on all topics (`partial`) or on any, with the option that fixes it."""
    needs = " and ".join(check.requires)
    options = " ".join(f"--field {'TOPIC:' if partial else ''}{name}=SOURCE" for name in check.requires)
    table = ", ".join(f"{name} = SOURCE" for name in check.requires)
    who = f"they map no {needs} field" if partial else f"no topic maps a {needs} field"
    return f"{who} ({options} or [topics.<t>] {table})"


def finding_to_json(row: Mapping[str, Any]) -> dict:
    """A findings row as a JSON-ready dict: key as text where valid UTF-8, else base64 + key_encoding."""
    out = {name: row[name] for name in ("check", "severity", "topic", "partition")}
    key = row["key"]
    if key is not None:
        try:
            out["key"] = bytes(key).decode("utf-8")
        except UnicodeDecodeError:
            out["key"], out["key_encoding"] = base64.b64encode(bytes(key)).decode(), "base64"
    else:
        out["key"] = None
    out["offsets"] = list(row["offsets"] or [])
    out["event_ids"] = list(row["event_ids"] or [])
    for name in ("first_ts", "last_ts"):
        value = row[name]
        out[name] = iso_utc(value) if isinstance(value, datetime) else value
    out["detail"] = row["detail"]
    return out


def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds (microseconds when present): 2023-11-14T22:13:20.000Z."""
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


# Offset-gap classifications (evkit/sql/offset_gap.sql) as nouns for the text summary, in display order.
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

    @property
    def summary(self) -> dict:
        """Records read, finding counts per check run and severity, skipped checks, offset gaps."""
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        return {"records": self.records, "run": self.run, "skipped": self.skipped,
                "findings": {name: {s: counts[name, s] for s in reversed(SEVERITY_RANK)} for name in self.run},
                "offset_gaps": self.offset_gaps}

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

    def to_text(self, *, limit: int = 20) -> str:
        """Counts per check and severity, offset gaps, skipped checks, field coverage problems, then the
        worst findings."""
        counts = Counter((f["check"], f["severity"]) for f in self.findings)
        lines = [f"{len(self.findings)} finding(s)" + (":" if counts else "")]
        lines += [f"  {check:<20} {severity:<8} {n}" for (check, severity), n in sorted(counts.items())]
        if self.offset_gaps is not None:
            lines.append(gaps_line(self.offset_gaps))
        lines += skipped_lines(self.run, self.skipped)
        gaps = [row for row in self.coverage if row[3] and (row[6] or row[8])]
        if gaps:
            lines.append("field coverage (records lacking a field):")
            lines += [f"  {topic} {name} ({source}): {missing} of {records} missing, {not_json} not JSON, "
                      f"{bad} unparseable" for topic, name, source, _, records, _, missing, not_json, bad in gaps]
        if self.findings:
            lines.append(f"worst {min(limit, len(self.findings))}:")
            for f in self.findings[:limit]:
                where = f["topic"] if f["partition"] is None else f"{f['topic']}/{f['partition']}"
                lines.append(f"  [{f['severity']}] {f['check']} {where}: {f['detail']}")
        return "\n".join(lines)


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


def check(*paths: str | Path, checks: Iterable[str] | str | None = None,
          fields: Mapping[str, str] | Iterable[str] | None = None, config: str | Path | Mapping | None = None,
          fail_on: str = "warning", memory_limit: str | None = None, quiet: bool = False) -> CheckReport:
    """Open the datasets, run the selected checks (default all) and return a CheckReport.

    `exit_code` is 1 if any finding is at or above `fail_on` (info, warning, error), else 0. A check
    that needs a field no topic maps (sequence_gap: `sequence`) is skipped, and the report says so.
    """
    from .session import open as open_dataset, topic_names

    if fail_on not in SEVERITY_RANK:
        raise UsageError(f"fail_on {fail_on!r}: expected one of {', '.join(SEVERITY_RANK)}")
    selected = select(checks)
    with open_dataset(*paths, fields=fields, config=config, memory_limit=memory_limit, quiet=quiet) as dataset:
        topics = topic_names(dataset.datasets)
        skipped: dict[str, dict] = {}
        runnable = {}
        for owner, names in selected.items():
            unmapped = skipped_topics(owner, topics, dataset.fields)
            partial = len(unmapped) < len(topics)
            skipped |= {name: {"topics": unmapped, "reason": skip_reason(owner, partial=partial)}
                        for name in owner.emits if name in names and unmapped}
            if partial or not unmapped:
                runnable[owner] = names
        dataset.materialize()
        findings = []
        for names in tqdm(runnable.values(), desc="checks", unit="check", disable=quiet, file=sys.stderr):
            relation = dataset.findings(sorted(names))
            columns = relation.columns
            findings += [finding_to_json(dict(zip(columns, row))) for row in relation.fetchall()]
        coverage = dataset.coverage_rows()
        (records,), = dataset.records.count("*").fetchall()
        gaps = None
        if any(owner.name == "offset_gap" for owner in runnable):
            found = dict(dataset.offset_gaps().aggregate("classification, count(*)", "classification").fetchall())
            gaps = {kind: found.get(kind, 0) for kind in GAP_NOUNS}
    findings.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])
    run = sorted(name for names in runnable.values() for name in names)
    return CheckReport(findings, coverage, fail_on, records, run, skipped, gaps)
