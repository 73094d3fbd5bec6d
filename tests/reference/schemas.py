"""schema_drift over JSON values (docs/analysis.md, "schema_drift"), as plain loops.

A value's structure is what DuckDB's json_structure infers, read as paths with a type each (object,
array, string, number, boolean, mixed; null present with no type; an array's elements merged, an
empty or all-null array without [*]). Per (cluster, topic, producer tag, event_type), values in
(broker time, partition, offset) order at positions 1..n, with k = min_expected:
added when c * (f - 1) >= k * (n - f + 1); removed when c * (n - l) >= k * l; a type first seen at f
after other non-null types of its path: c_T * before >= k * after (values carrying the path).
Registry-framed values (magic byte 0) are not modelled here: tests/schemas/test_compat.py and the
check's own tests cover them.
"""
from __future__ import annotations

import re
from collections import defaultdict

from .events import derive_events, parse_json
from .keys import producer_tag
from .stream import Finding, Stream

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def shape(node):
    """json_structure of one JSON value: a type name, ("object", {key: shape}) or ("array", shape|None)."""
    if isinstance(node, dict):
        return ("object", {k: shape(v) for k, v in node.items()}) if node else "mixed"
    if isinstance(node, list):
        merged = None
        for item in node:
            merged = merge(merged, shape(item))
        return ("array", merged)
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "boolean"
    return "number" if isinstance(node, (int, float)) else "string"


def merge(a, b):
    """Two array elements' shapes as one (null gives way, numbers are one kind, objects unite keys)."""
    if a is None or a == "null":
        return b
    if b == "null":
        return a
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "object":
            return ("object", {k: merge(a[1].get(k), b[1].get(k)) if k in a[1] and k in b[1]
                               else a[1].get(k, b[1].get(k)) for k in a[1].keys() | b[1].keys()})
        return ("array", merge(a[1], b[1]))
    return a if a == b else "mixed"


def paths(node, path: str = "$", parent: str | None = None, out: dict | None = None) -> dict:
    """path -> (type, parent path) of a shape."""
    out = {} if out is None else out
    if isinstance(node, tuple):
        out[path] = (node[0], parent)
        if node[0] == "object":
            for key, child in node[1].items():
                step = f".{key}" if IDENTIFIER.fullmatch(key) else '."' + key.replace('"', '\\"') + '"'
                paths(child, path + step, path, out)
        elif node[1] is not None and node[1] != "null":
            paths(node[1], path + "[*]", path, out)
    else:
        out[path] = (node, parent)
    return out


def schema_drift(stream: Stream) -> set[Finding]:
    k = stream.param("schema_drift", "min_expected", 10)
    header = stream.param("partitioner", "producer_header", "producer")
    groups = defaultdict(list)
    for event in derive_events(stream):
        r = event.record
        if r.value is None or (len(r.value) >= 5 and r.value[0] == 0):
            continue
        is_json, document = parse_json(r.value)
        if not is_json:
            continue
        groups[(r.cluster_id, r.topic, producer_tag(r, header), event.event_type)].append(
            (r.timestamp, r.partition, r.offset, paths(shape(document))))
    merged = defaultdict(lambda: defaultdict(list))  # (cluster, topic, producer, changes) -> partition -> offsets
    for (cluster, topic, producer, _), values in groups.items():
        values.sort(key=lambda v: v[:3])
        for start, changes, shows in group_changes(values, k):
            for pos, (_, partition, offset, found) in enumerate(values, 1):
                if pos >= start and shows(found):
                    merged[(cluster, topic, producer, changes)][partition].append(offset)
    return {Finding("schema_drift", "warning" if any(c[1] != "added" for c in changes) else "info", topic, partition,
                    None, (min(offsets),))
            for (_, topic, _, changes), parts in merged.items() for partition, offsets in parts.items()}


def group_changes(values: list, k: int) -> list:
    """(start position, sorted (path, change, from, to) tuple, test of a value's paths) per change of one group."""
    n = len(values)
    stats: dict[str, dict] = {}
    types: dict[tuple[str, str], dict] = {}
    for pos, (*_, found) in enumerate(values, 1):
        for path, (kind, parent) in found.items():
            p = stats.setdefault(path, {"c": 0, "f": pos, "parent": parent, "first": kind})
            p.update(c=p["c"] + 1, l=pos, last=kind)
            t = types.setdefault((path, kind), {"c": 0, "f": pos})
            t["c"] += 1
    changes = []  # (start, path, parent, change, from, to)
    for path, p in stats.items():
        if p["f"] > 1 and p["c"] * (p["f"] - 1) >= k * (n - p["f"] + 1):
            changes.append((p["f"], path, p["parent"], "added", None, p["first"]))
        if p["l"] < n and p["c"] * (n - p["l"]) >= k * p["l"]:
            changes.append((p["l"] + 1, path, p["parent"], "removed", p["last"], None))
    for (path, kind), t in types.items():
        if kind == "null" or t["f"] <= stats[path]["f"]:
            continue
        before = sorted(o for (q, o), s in types.items() if q == path and o not in ("null", kind) and s["f"] < t["f"])
        if not before:
            continue
        carrying = [pos for pos, (*_, found) in enumerate(values, 1) if path in found]
        earlier = sum(1 for pos in carrying if pos < t["f"])
        if t["c"] * earlier >= k * (len(carrying) - earlier):
            changes.append((t["f"], path, None, "type_changed", "|".join(before), kind))
    kept = [c for c in changes if c[3] == "type_changed" or not any(
        o[0] == c[0] and o[3] == c[3] and o[1] == c[2] for o in changes)]
    result = []
    for start in sorted({c[0] for c in kept}):
        at = [c for c in kept if c[0] == start]
        listed = tuple(sorted((c[1], c[3], c[4], c[5]) for c in at))
        removes = any(c[3] == "removed" for c in at)
        new = [(c[1], c[3], c[5]) for c in at if c[3] != "removed"]

        def shows(found, removes=removes, new=new) -> bool:
            return removes or any(path in found and (change == "added" or found[path][0] == to) for path, change, to in new)

        result.append((start, listed, shows))
    return result
