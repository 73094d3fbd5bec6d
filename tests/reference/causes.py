"""The grouping of findings into causes (docs/causes.md), written a second time, plainly.

evkit's engine claims findings rule by rule with indexes and sweeps runs in time order; this model
decides each finding's cause by asking, in the documented rule order, "which anchor claims me?",
and forms runs as connected components of "windows [first_ts, last_ts + gap] overlap" by comparing
every pair. No evkit import. `assign(findings)` gives, per finding, `(kind, anchor)`; `cause_id`
turns that into the id both must agree on; `causes(findings)` the per-cause facts the differential
test compares (members, kind, id, severity, counts, topics, first/last).
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

RANK = {"error": 2, "warning": 1, "info": 0}


def ts(value):
    if value is None:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def facts(f):
    return f.get("facts") or {}


def key_of(f):
    if f.get("key") is not None and f.get("key_encoding") == "base64":
        return "base64:" + f["key"]
    return f.get("key")


def identity(f):
    return [f["check"], f["topic"], f.get("partition"), key_of(f), list(f.get("offsets") or [])]


def order_key(value):
    """Sort None before numbers before strings, element by element."""
    if isinstance(value, (list, tuple)):
        return tuple(order_key(v) for v in value)
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def cause_id(kind, anchor):
    text = json.dumps(anchor, sort_keys=True, default=str, separators=(",", ":"))
    return kind + "-" + hashlib.sha256(text.encode()).hexdigest()[:10]


# --- what each finding is ------------------------------------------------------------------


def is_burst(f):
    return f["check"] == "duplicate" and facts(f).get("kind") == "burst"


def copies_of(burst):
    c = facts(burst).get("copies")
    if c:
        return c["partition"], c["first"], c["last"]
    offs = burst.get("offsets") or [0]
    return burst.get("partition"), min(offs), max(offs)


def scope(f):
    if facts(f).get("scope"):
        return facts(f)["scope"]
    if f.get("partition") is None:
        return "split"
    if f["severity"] == "warning":
        return "entity"
    return "partition"


def is_split_entity(f):
    return f["check"] == "out_of_order" and scope(f) == "split"


def positions(f):
    if facts(f).get("positions"):
        return [tuple(p) for p in facts(f)["positions"]]
    if f.get("partition") is None:
        return []
    return [(f["partition"], o) for o in f.get("offsets") or []]


def sub_kind(f):
    c = f["check"]
    if c == "duplicate":
        return facts(f).get("kind", "")
    if c == "sequence_gap":
        return f["severity"]
    if c == "out_of_order":
        return scope(f)
    if c == "offset_gap":
        return facts(f).get("classification", f["severity"])
    if c == "silence":
        return "entity" if f.get("key") is not None else "partition"
    if c in ("rate", "flow", "size", "custom"):
        return facts(f).get("rule", "") + ":" + facts(f).get("kind", "")
    return ""


def overlaps(a0, a1, b0, b1):
    if None in (a0, a1, b0, b1):
        return False
    return a0 <= b1 and b0 <= a1


# --- the rules, one finding at a time ----------------------------------------------------------


def assign(findings, gap_ms=600_000):
    """Per finding (same order), the (kind, anchor) of its cause."""
    n = len(findings)
    out = [None] * n

    # rule 1: re-publication bursts, in anchor order
    bursts = sorted((i for i in range(n) if is_burst(findings[i])),
                    key=lambda i: order_key([findings[i]["topic"], *copies_of(findings[i])]))
    for i in range(n):
        f = findings[i]
        if is_burst(f):
            p, lo, _ = copies_of(f)
            out[i] = ("republication", ["republication", f["topic"], p, lo])
            continue
        for b in bursts:
            fb = findings[b]
            p, lo, hi = copies_of(fb)
            if f["topic"] != fb["topic"] and f["check"] != "flow":
                continue
            hit = False
            if f["check"] == "duplicate":
                hit = any(q == p and lo <= o <= hi for q, o in positions(f))
            elif f["check"] in ("out_of_order", "sequence_regression"):
                hit = f.get("partition") == p and bool(f.get("offsets")) and lo <= f["offsets"][-1] <= hi
            elif f["check"] == "flow":
                if facts(f).get("effects"):
                    effects = [tuple(e) for e in facts(f)["effects"]]
                elif facts(f).get("kind") == "orphan" and f.get("partition") is not None and f.get("offsets"):
                    effects = [(f["topic"], f["partition"], f["offsets"][0])]
                else:
                    effects = []
                hit = any(t == fb["topic"] and q == p and lo <= o <= hi for t, q, o in effects)
            elif f["check"] == "rate":
                hit = f.get("partition") == p and overlaps(ts(f.get("first_ts")), ts(f.get("last_ts")),
                                                           ts(fb.get("first_ts")), ts(fb.get("last_ts")))
            if hit:
                out[i] = ("republication", ["republication", fb["topic"], p, lo])
                break

    # rule 2: a topic's partitioner findings, the split keys they explain, those keys' split entities
    partitioner_topics = {f["topic"] for f in findings if f["check"] == "partitioner"}
    verdicts = {t: {facts(f)["producer"]: tuple(facts(f)["verdict"]) for f in findings
                    if f["check"] == "partitioner" and f["topic"] == t
                    and facts(f).get("producer") is not None and "verdict" in facts(f)}
                for t in partitioner_topics}

    def explained(f):
        v = verdicts[f["topic"]]
        parts = facts(f).get("partitions")
        if not parts or not v or not any(a.get("producers") for a in parts):
            return True
        pairs = [(a, b) for a in parts for b in parts if a["partition"] != b["partition"]]
        return any(pa in v and pb in v and v[pa] != v[pb]
                   for a, b in pairs for pa in a.get("producers") or [] for pb in b.get("producers") or [])

    split_by_partitioner = {}
    for i, f in enumerate(findings):
        if out[i] is None and f["check"] == "partitioner":
            out[i] = ("partitioner", ["partitioner", f["topic"]])
        elif out[i] is None and f["check"] == "split_key" and f["topic"] in partitioner_topics and explained(f):
            out[i] = ("partitioner", ["partitioner", f["topic"]])
            split_by_partitioner.setdefault(f["topic"], set()).add(key_of(f))

    def entity_linked(f, keys, entities, fallback):
        if facts(f).get("entity") is not None and facts(f)["entity"] in entities:
            return True
        if "keys" in facts(f):
            return bool(set(facts(f)["keys"]) & keys)
        return key_of(f) in keys or fallback

    for i, f in enumerate(findings):
        if out[i] is None and is_split_entity(f) and f["topic"] in split_by_partitioner:
            if entity_linked(f, split_by_partitioner[f["topic"]], set(), False):
                out[i] = ("partitioner", ["partitioner", f["topic"]])

    # rule 3: key encodings, grouped by topic and set of encodings
    def encodings(f):
        return sorted({e["encoding"] for e in facts(f).get("encodings") or []})

    groups = {}
    for f in findings:
        if f["check"] == "key_encoding":
            groups.setdefault((f["topic"], tuple(encodings(f))), []).append(f)
    for i, f in enumerate(findings):
        if f["check"] == "key_encoding":
            out[i] = ("key_encoding", ["key_encoding", f["topic"], encodings(f)])
    for (topic, encs) in sorted(groups):
        members = groups[(topic, encs)]
        keys = {key_of(m) for m in members}
        keys |= {e["key"] for m in members for e in facts(m).get("encodings") or [] if e.get("key") is not None}
        logical = {facts(m)["logical_key"] for m in members if facts(m).get("logical_key") is not None}
        for i, f in enumerate(findings):
            if out[i] is None and f["topic"] == topic:
                if is_split_entity(f) and entity_linked(f, keys | logical, logical, not logical):
                    out[i] = ("key_encoding", ["key_encoding", topic, list(encs)])

    # rule 4: partition count changes
    pcc_topics = sorted({f["topic"] for i, f in enumerate(findings)
                         if f["check"] == "partition_count_change"})
    for topic in pcc_topics:
        members = [f for f in findings if f["check"] == "partition_count_change" and f["topic"] == topic]
        known = all("keys" in facts(m) for m in members)
        keys = {k for m in members for k in facts(m).get("keys", [])}
        taken = set()
        for i, f in enumerate(findings):
            if f["check"] == "partition_count_change" and f["topic"] == topic:
                out[i] = ("partition_count_change", ["partition_count_change", topic])
            elif out[i] is None and f["check"] == "split_key" and f["topic"] == topic and (not known or key_of(f) in keys):
                out[i] = ("partition_count_change", ["partition_count_change", topic])
                taken.add(key_of(f))
        for i, f in enumerate(findings):
            if out[i] is None and is_split_entity(f) and f["topic"] == topic and entity_linked(f, taken, set(), False):
                out[i] = ("partition_count_change", ["partition_count_change", topic])

    # rule 5: a rate's worst window and the silence that touches it (ends or begins within one window length)
    rates = sorted((i for i in range(n) if out[i] is None and findings[i]["check"] == "rate"),
                   key=lambda i: order_key([findings[i]["topic"], findings[i].get("partition"),
                                            key_of(findings[i]), findings[i].get("first_ts")]))
    for r in rates:
        fr = findings[r]
        out[r] = ("rate_burst", ["rate_burst", fr["topic"], fr.get("partition"), key_of(fr), fr.get("first_ts")])
    for i, f in enumerate(findings):
        if out[i] is not None or f["check"] != "silence":
            continue
        for r in rates:
            fr = findings[r]
            a, b = ts(fr.get("first_ts")), ts(fr.get("last_ts"))
            if f["topic"] != fr["topic"] or a is None or b is None:
                continue
            if fr.get("key") is not None:
                same = (facts(f).get("entity") or key_of(f)) == key_of(fr)
            else:
                same = f.get("key") is None and f.get("partition") == fr.get("partition")
            if same and overlaps(ts(f.get("first_ts")), ts(f.get("last_ts")), a - (b - a), b + (b - a)):
                out[i] = out[r]
                break

    # rule 6: the size findings of one document (topic and key)
    for i, f in enumerate(findings):
        if f["check"] == "size":
            out[i] = ("growing_value", ["growing_value", f["topic"], key_of(f)])

    # rule 7: schema drift findings of one topic and one change (all its partitions)
    for i, f in enumerate(findings):
        if f["check"] == "schema_drift":
            out[i] = ("schema_change", ["schema_change", f["topic"], facts(f).get("change_id")])

    # rules 8-10: runs of what is left
    def runs(indices):
        """Connected components of 'windows [first, last + gap] overlap' (pairwise), timeless apart."""
        gap = timedelta(milliseconds=gap_ms)
        timed = [i for i in indices if findings[i].get("first_ts")]
        parent = {i: i for i in timed}

        def root(i):
            while parent[i] != i:
                i = parent[i]
            return i
        for a in timed:
            for b in timed:
                fa, fb = findings[a], findings[b]
                a0 = ts(fa["first_ts"]); a1 = ts(fa.get("last_ts") or fa["first_ts"]) + gap
                b0 = ts(fb["first_ts"]); b1 = ts(fb.get("last_ts") or fb["first_ts"]) + gap
                if a0 <= b1 and b0 <= a1:
                    parent[root(a)] = root(b)
        comps = {}
        for i in timed:
            comps.setdefault(root(i), []).append(i)
        result = list(comps.values())
        timeless = [i for i in indices if not findings[i].get("first_ts")]
        if timeless:
            result.append(timeless)
        return result

    def earliest(members):
        return min(members, key=lambda i: (findings[i].get("first_ts") is None,
                                           ts(findings[i].get("first_ts")) or datetime.min,
                                           order_key(identity(findings[i]))))

    def make_runs(kind, pred, class_of):
        classes = {}
        for i, f in enumerate(findings):
            if out[i] is None and pred(f):
                classes.setdefault(class_of(f), []).append(i)
        made = []
        for cls, members in classes.items():
            for run in runs(members):
                head = findings[earliest(run)]
                name = kind or head["check"]
                anchor = [name, *cls, identity(head)]
                for i in run:
                    out[i] = (name, anchor)
                made.append(run)
        return made

    late_runs = make_runs("late_events",
                          lambda f: f["check"] == "out_of_order" and scope(f) in ("entity", "partition"),
                          lambda f: (f["topic"], facts(f).get("producer")))
    for run in late_runs:
        marks = {(findings[i]["topic"], findings[i]["partition"], key_of(findings[i]), findings[i]["offsets"][-1])
                 for i in run if findings[i].get("offsets")}
        for i, f in enumerate(findings):
            if out[i] is None and f["check"] == "sequence_regression" and f.get("offsets") and \
                    (f["topic"], f.get("partition"), key_of(f), f["offsets"][-1]) in marks:
                out[i] = out[run[0]]
    make_runs("lost_events", lambda f: f["check"] == "sequence_gap" and f["severity"] == "error",
              lambda f: (f["topic"],))
    make_runs(None, lambda f: True, lambda f: (f["check"], sub_kind(f), f["topic"], facts(f).get("producer")))
    return out


def causes(findings, gap_ms=600_000):
    """Per cause id: members (finding indices), kind, severity, counts, topics, first_ts, last_ts."""
    result = {}
    for i, (kind, anchor) in enumerate(assign(findings, gap_ms)):
        cid = cause_id(kind, anchor)
        c = result.setdefault(cid, {"kind": kind, "members": [], "severity": "info", "findings": {},
                                    "topics": set(), "first": None, "last": None})
        f = findings[i]
        c["members"].append(i)
        if RANK[f["severity"]] > RANK[c["severity"]]:
            c["severity"] = f["severity"]
        c["findings"][f["check"]] = c["findings"].get(f["check"], 0) + 1
        c["topics"].add(f["topic"])
        if f.get("first_ts") and (c["first"] is None or ts(f["first_ts"]) < c["first"]):
            c["first"] = ts(f["first_ts"])
        if f.get("last_ts") and (c["last"] is None or ts(f["last_ts"]) > c["last"]):
            c["last"] = ts(f["last_ts"])
    return result
