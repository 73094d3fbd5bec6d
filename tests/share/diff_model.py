"""The reference model of `evkit diff` (docs/sharing.md) in plain Python: the differences between two
lists of records, computed from their bytes (no hashes), for the differential test test_diff_model.py.

A record is a dict: topic, partition, offset, timestamp, key, value (bytes or None), headers (a list
of (name, value) pairs), event_id (str or None). Records of B arrive with their topics already named as
in A and the ignored headers already removed; records of A with unique positions.
"""
from __future__ import annotations

import json
from collections import defaultdict

KINDS = ("only_in_a", "only_in_b", "changed", "moved")


def identity(record: dict, by: str) -> tuple:
    """What matches a record with one in the other dataset."""
    if by == "position":
        return ("position", record["partition"], record["offset"])
    if by == "event_id" and record["event_id"] is not None:
        return ("event_id", record["event_id"])
    return ("content", record["key"], record["value"], tuple(record["headers"]))


def pairs(a: list[dict], b: list[dict], by: str) -> list[tuple[dict | None, dict | None]]:
    """Copies of one identity matched in (partition, offset) order: the n-th in A with the n-th in B."""
    copies: dict[tuple, tuple[list, list]] = defaultdict(lambda: ([], []))
    for side, records in enumerate((a, b)):
        for record in sorted(records, key=lambda r: (r["partition"], r["offset"])):
            copies[(record["topic"], identity(record, by))][side].append(record)
    out = []
    for in_a, in_b in copies.values():
        out += [(in_a[n] if n < len(in_a) else None, in_b[n] if n < len(in_b) else None)
                for n in range(max(len(in_a), len(in_b)))]
    return out


def changed_fields(x: dict, y: dict, timestamps: bool) -> list[str]:
    """Which parts of a matched pair differ: key, headers, timestamp, then the value (its top-level
    JSON fields when both values are JSON objects and some field differs)."""
    fields = [name for name, differs in (("key", x["key"] != y["key"]), ("headers", x["headers"] != y["headers"]),
                                         ("timestamp", timestamps and x["timestamp"] != y["timestamp"])) if differs]
    if x["value"] != y["value"]:
        fields += json_fields(x["value"], y["value"]) or ["value"]
    return fields


def json_fields(x: bytes | None, y: bytes | None) -> list[str]:
    objects = [_json_object(v) for v in (x, y)]
    if None in objects:
        return []
    first, second = objects
    return [f"value.$.{name}" for name in sorted(set(first) | set(second))
            if _text(first.get(name)) != _text(second.get(name))]


def _json_object(value: bytes | None) -> dict | None:
    try:
        parsed = json.loads(value.decode())
    except (AttributeError, UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _text(value) -> str | None:
    """A JSON member as compact text (absent: None), so 1 and true stay apart."""
    return None if value is None else json.dumps(value, separators=(",", ":"))


def moved(matched: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
    """Pairs in another partition, and pairs whose predecessor among the pairs of their partition (same
    partition on both sides) is another in A's order than in B's."""
    out = [(x, y) for x, y in matched if x["partition"] != y["partition"]]
    groups = defaultdict(list)
    for x, y in matched:
        if x["partition"] == y["partition"]:
            groups[(x["topic"], x["partition"])].append((x, y))
    for group in groups.values():
        before_in_a = _predecessors(group, lambda p: p[0]["offset"])
        before_in_b = _predecessors(group, lambda p: p[1]["offset"])
        out += [p for p in group if before_in_a[id(p[0])] != before_in_b[id(p[0])]]
    return out


def _predecessors(group: list, order) -> dict[int, int | None]:
    ordered = sorted(group, key=order)
    return {id(x): (ordered[n - 1][0]["offset"] if n else None) for n, (x, _) in enumerate(ordered)}


def diff(a: list[dict], b: list[dict], *, by: str = "content", timestamps: bool = True) -> tuple[list[dict], list[tuple]]:
    """(summary per topic, differences as (kind, topic, A position, B position, fields)) in evkit's order."""
    matched_pairs = pairs(a, b, by)
    both = [(x, y) for x, y in matched_pairs if x is not None and y is not None]
    rows = [("only_in_a", x["topic"], (x["partition"], x["offset"]), None, []) for x, y in matched_pairs if y is None]
    rows += [("only_in_b", y["topic"], None, (y["partition"], y["offset"]), []) for x, y in matched_pairs if x is None]
    rows += [("changed", x["topic"], (x["partition"], x["offset"]), (y["partition"], y["offset"]), fields)
             for x, y in both if (fields := changed_fields(x, y, timestamps))]
    rows += [("moved", x["topic"], (x["partition"], x["offset"]), (y["partition"], y["offset"]), []) for x, y in moved(both)]
    summary = []
    for topic in sorted({r["topic"] for r in a + b}):
        kinds = {kind: sum(1 for r in rows if r[0] == kind and r[1] == topic) for kind in KINDS}
        summary.append({"topic": topic, "a_records": sum(r["topic"] == topic for r in a),
                        "b_records": sum(r["topic"] == topic for r in b),
                        "matched": sum(x["topic"] == topic for x, _ in both), **kinds})
    rows.sort(key=lambda r: (r[1], r[0], (r[2] or r[3])[0], (r[2] or r[3])[1]))
    return summary, rows
