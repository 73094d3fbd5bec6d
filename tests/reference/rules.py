"""The rules of docs/rules.md -- rate, size, flow and custom SQL -- written a second time as plain loops.

Obviously correct rather than fast (a rate window counts the whole group for every event). Rule
definitions come from `stream.rules` ({"rates": {name: table}, "flows": {...}, "rules": {...}}, the
TOML tables as written) and the size thresholds from `stream.params["size"]`.

The model cannot run SQL: a `where` / `from_where` / `to_where` SQL condition and a custom rule's
query must be one of `CONDITIONS` / `QUERIES` below (the SQL text the generator writes, with its
meaning in Python); anything else raises `Unmodelled`.
"""
from __future__ import annotations

import re
from collections import defaultdict
from fractions import Fraction

from .events import Event, derive_events, parse_json, raw_value
from .stream import Finding, Stream

MINUS_INFINITY = float("-inf")
INFINITY = float("inf")
DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d)")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:/-]+")
EVENT_FIELDS = ("entity", "event_id", "trace_id", "event_type", "sequence")
SIZE_DEFAULTS = {"max_bytes": 524288, "growth_factor": 10, "min_versions": 10}


class Unmodelled(Exception):
    """A SQL condition or query the model has no Python meaning for."""


# SQL conditions (over the `events` view) the generator uses, with their meaning; SQL's NULL is False.
CONDITIONS = {
    "sequence % 2 = 0": lambda e: e.sequence is not None and e.sequence % 2 == 0,
    "value_size > 100": lambda e: e.value is not None and len(e.value) > 100,
    "event_type IN ('req', 'ping')": lambda e: e.event_type in ("req", "ping"),
}


def _retries(stream: Stream, name: str, table: dict) -> set[Finding]:
    return {Finding("custom", table.get("severity", "warning"), e.topic, e.partition, e.key, (e.offset,))
            for e in derive_events(stream) if e.event_type == "retry"}


# Custom rules' queries the generator uses, with the findings each must give.
QUERIES = {
    "SELECT topic, partition, key, [\"offset\"] AS offsets FROM events WHERE event_type = 'retry'": _retries,
}


def duration_ms(text) -> int:
    match = DURATION.fullmatch(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration")
    return int(match.group(1)) * UNIT_MS[match.group(2)]


def time(e: Event) -> int:
    """Event time where mapped and present, else broker time (the timeline's `time`)."""
    return e.event_time if e.event_time is not None else e.timestamp


def order(e: Event) -> tuple:
    return (time(e), e.cluster_id, e.partition, e.offset)


def selected(e: Event, where) -> bool:
    """`where`: None (every event), an event type (a single word) or a list of them, or a known SQL condition."""
    if where is None:
        return True
    if isinstance(where, (list, tuple)):
        return e.event_type in where
    if EVENT_TYPE.fullmatch(where):
        return e.event_type == where
    if where not in CONDITIONS:
        raise Unmodelled(f"SQL condition {where!r}")
    return CONDITIONS[where](e)


def value_of(e: Event, name: str) -> str | None:
    """A group or correlation value: an event field by name, else a field source's text."""
    if name in EVENT_FIELDS:
        value = getattr(e, name)
        return None if value is None else str(value)
    document = parse_json(e.value)[1] if name.startswith("$") else None
    return raw_value(e.record, name, document)


def common_partition(events) -> int | None:
    partitions = {e.partition for e in events}
    return partitions.pop() if len(partitions) == 1 else None


# --- rate ----------------------------------------------------------------------------------------

def rate(stream: Stream) -> set[Finding]:
    findings = set()
    events = derive_events(stream)
    for name, table in sorted(stream.rules.get("rates", {}).items()):
        per, limit, window = table["per"], table["max"], duration_ms(table["window"])
        severity = table.get("severity", "warning")
        groups: dict[tuple, list[Event]] = defaultdict(list)
        keys: dict[tuple, bytes | None] = {}
        for e in events:
            if e.topic != table["topic"] or not selected(e, table.get("where")):
                continue
            if per == "topic":
                group, key = (e.cluster_id,), None
            elif per == "partition":
                group, key = (e.cluster_id, e.partition), None
            elif per == "key":
                if e.key is None:
                    continue
                group, key = (e.cluster_id, e.key), e.key
            else:
                value = value_of(e, per)
                if value is None:
                    continue
                group, key = (e.cluster_id, value), value.encode()
            groups[group].append(e)
            keys[group] = key
        for group, members in groups.items():
            members.sort(key=order)
            best, best_window = None, None
            exceeded = 0
            for e in members:
                inside = [x for x in members if time(e) <= time(x) < time(e) + window]
                if len(inside) > limit:
                    exceeded += 1
                    if best is None or len(inside) > len(best_window):
                        best, best_window = e, inside
            if best is None:
                continue
            findings.add(Finding("rate", severity, table["topic"], common_partition(best_window), keys[group],
                                 (best_window[0].offset, best_window[-1].offset)))
    return findings


def rate_windows(times: list[int], window: int, limit: int) -> tuple[int, int, int]:
    """(windows exceeded, bursts, worst count) for sorted times: the detail's numbers, for examples."""
    exceeded, bursts, worst, burst_end = 0, 0, 0, None
    for t in times:
        count = sum(1 for x in times if t <= x < t + window)
        worst = max(worst, count)
        if count > limit:
            exceeded += 1
            if burst_end is None or t >= burst_end:
                bursts += 1
            burst_end = t + window
    return exceeded, bursts, worst


# --- size ----------------------------------------------------------------------------------------

def size(stream: Stream) -> set[Finding]:
    max_bytes = stream.param("size", "max_bytes", SIZE_DEFAULTS["max_bytes"])
    factor = Fraction(str(stream.param("size", "growth_factor", SIZE_DEFAULTS["growth_factor"])))
    min_versions = stream.param("size", "min_versions", SIZE_DEFAULTS["min_versions"])
    by_key: dict[tuple, list[Event]] = defaultdict(list)
    for e in derive_events(stream):
        if e.value is not None:
            by_key[(e.cluster_id, e.topic, e.key)].append(e)
    findings = set()
    for (_, topic, key), versions in by_key.items():
        versions.sort(key=order)
        large = [e for e in versions if len(e.value) > max_bytes]
        if large:
            largest = min(large, key=lambda e: (-len(e.value), order(e)))
            findings.add(Finding("size", "warning", topic, common_partition(large), key, (largest.offset,)))
        if key is None or len(versions) < min_versions:
            continue
        first, last = len(versions[0].value), len(versions[-1].value)
        if last >= factor * max(first, 1):
            findings.add(Finding("size", "warning", topic, common_partition(versions), key,
                                 (versions[0].offset, versions[-1].offset)))
    return findings


# --- flow ----------------------------------------------------------------------------------------

def range_intervals(stream: Stream) -> dict[tuple[str, str, int], list[tuple[float, float]]]:
    """(cluster, topic, partition) -> the broker-time intervals its dumped ranges cover (closed, in whole
    milliseconds), merged where they overlap or touch (the next starts at most 1 ms after the end)."""
    times: dict[tuple[str, str, int], list[tuple[int, int]]] = defaultdict(list)
    for r in stream.records:
        times[(r.cluster_id, r.topic, r.partition)].append((r.offset, r.timestamp))
    raw: dict[tuple[str, str, int], list[tuple[float, float]]] = defaultdict(list)
    for dumped in stream.ranges:
        place = (dumped.cluster_id, dumped.topic, dumped.partition)
        inside = [ts for offset, ts in times[place] if dumped.start <= offset < dumped.end]
        start = MINUS_INFINITY if dumped.start == 0 else min(inside, default=INFINITY)
        at_end = dumped.high_watermark is None or dumped.end >= dumped.high_watermark
        if dumped.end_fixed_at is not None and at_end:
            until = dumped.end_fixed_at
        else:
            until = max(inside, default=MINUS_INFINITY)
        if start <= until:
            raw[place].append((start, until))
    merged = {}
    for place, intervals in raw.items():
        out: list[list[float]] = []
        for start, until in sorted(intervals):
            if out and start <= out[-1][1] + 1:  # times are whole milliseconds: touching intervals join
                out[-1][1] = max(out[-1][1], until)
            else:
                out.append([start, until])
        merged[place] = [tuple(i) for i in out]
    return merged


def covers(stream: Stream, intervals, topic: str, cluster: str | None, start: int, end: int) -> bool:
    """Every partition of `topic` (in `cluster`, else in every cluster that recorded it) covers [start, end]."""
    counts: dict[str, int] = {}
    for info in stream.topics:
        if info.topic == topic and (cluster is None or info.cluster_id == cluster):
            counts[info.cluster_id] = max(counts.get(info.cluster_id, 0), info.partition_count)
    if not counts:
        return False
    return all(any(a <= start and end <= b for a, b in intervals.get((c, topic, p), []))
               for c, count in counts.items() for p in range(count))


def flow_side(events: list[Event], table: dict, side: str) -> list[tuple[Event, str]]:
    """(event, correlation value) of the causes (side "from") or effects ("to") of a flow."""
    topic, cluster = table[side], table.get(f"{side}_cluster")
    kind, where = table.get(f"{side}_type"), table.get(f"{side}_where")
    by = table.get(f"by_{side}", table.get("by", "trace_id"))
    chosen = []
    for e in events:
        if e.topic != topic or (cluster is not None and e.cluster_id != cluster):
            continue
        if not selected(e, kind) or not selected(e, where):
            continue
        value = value_of(e, by)
        if value is not None:
            chosen.append((e, value))
    return chosen


def flow(stream: Stream) -> set[Finding]:
    findings = set()
    events = derive_events(stream)
    intervals = range_intervals(stream)
    for name, table in sorted(stream.rules.get("flows", {}).items()):
        within = duration_ms(table["within"])
        expect = table.get("expect", "at_least_one")
        causes = flow_side(events, table, "from")
        effects = flow_side(events, table, "to")
        effects_of: dict[str, list[Event]] = defaultdict(list)
        causes_of: dict[str, list[Event]] = defaultdict(list)
        for e, value in effects:
            effects_of[value].append(e)
        for c, value in causes:
            causes_of[value].append(c)
        for c, value in causes:
            mine = sorted((e for e in effects_of[value] if e.record is not c.record and time(e) >= time(c)), key=order)
            key = value.encode()
            if not mine:
                covered = covers(stream, intervals, table["to"], table.get("to_cluster"), time(c), time(c) + within)
                findings.add(Finding("flow", "error" if covered else "info", c.topic, c.partition, key, (c.offset,)))
                continue
            if time(mine[0]) > time(c) + within:
                findings.add(Finding("flow", "warning", c.topic, c.partition, key, (c.offset, mine[0].offset)))
            if expect == "one" and len(mine) >= 2:
                findings.add(Finding("flow", "warning", c.topic, c.partition, key,
                                     (c.offset, *(e.offset for e in mine))))
        for e, value in effects:
            if any(c.record is not e.record and time(c) <= time(e) for c in causes_of[value]):
                continue
            if covers(stream, intervals, table["from"], table.get("from_cluster"), time(e) - within, time(e)):
                findings.add(Finding("flow", "warning", e.topic, e.partition, value.encode(), (e.offset,)))
    return findings


# --- custom SQL ----------------------------------------------------------------------------------

def custom(stream: Stream) -> set[Finding]:
    findings = set()
    for name, table in sorted(stream.rules.get("rules", {}).items()):
        query = table.get("query")
        if query not in QUERIES:
            raise Unmodelled(f"custom rule {name}: query {query!r}")
        findings |= QUERIES[query](stream, name, table)
    return findings


RULES = {"rate": rate, "size": size, "flow": flow, "custom": custom}
