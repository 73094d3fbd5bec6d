"""Group findings into causes (docs/causes.md): pure Python over finding dicts.

`group(findings)` returns `(findings_with_cause, causes)`: a copy of every finding with a `cause`
id, and the causes worst first. The rules read only the findings' fields and their optional
structured `facts` (the checks' SQL writes them); they never parse `detail`. Standard library only:
tests/reference/causes.py writes the same rules a second time and the differential test
(tests/analysis/test_causes.py) compares the two.
"""
from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta

DEFAULT_EPISODE_GAP_MS = 600_000
SEVERITY_RANK = {"error": 2, "warning": 1, "info": 0}

PARTITIONER_LABELS = {
    "java_murmur2": "Java murmur2",
    "librdkafka_consistent": "librdkafka's CRC32",
    "librdkafka_fnv1a": "librdkafka's FNV-1a",
    "sarama_hash": "Sarama's FNV-1a hash",
    "sarama_reference": "Sarama's reference FNV-1a hash",
    "kafkajs_legacy": "kafkajs 1.x murmur2",
}
ENCODING_LABELS = {
    "utf8": "UTF-8 text",
    "json_string": "JSON strings",
    "int32_be": "4-byte big-endian integers",
    "int64_be": "8-byte big-endian integers",
    "sr_avro_long": "Schema Registry Avro longs",
    "sr_avro_string": "Schema Registry Avro strings",
    "sr_json": "Schema Registry JSON",
}
CHECK_NOUNS = {  # singular, plural
    "duplicate": ("duplicate", "duplicates"),
    "offset_gap": ("offset gap", "offset gaps"),
    "sequence_gap": ("sequence gap", "sequence gaps"),
    "sequence_regression": ("sequence regression", "sequence regressions"),
    "silence": ("silence", "silences"),
    "out_of_order": ("event out of order", "events out of order"),
    "split_key": ("key split over partitions", "keys split over partitions"),
    "partitioner": ("partitioner finding", "partitioner findings"),
    "key_encoding": ("key written in two encodings", "keys written in several encodings"),
    "partition_count_change": ("partition count change", "partition count changes"),
    "field_coverage": ("field with gaps", "fields with gaps"),
}


# ---------------------------------------------------------------------------------------------
# Reading findings


def _ts(value):
    if value is None:
        return None
    if isinstance(value, datetime):
        return value
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    return datetime.fromisoformat(text)


def facts(f) -> dict:
    return f.get("facts") or {}


def key_repr(f):
    """The finding's key as facts write keys: text, or `base64:` + base64 when not UTF-8."""
    key = f.get("key")
    if key is not None and f.get("key_encoding") == "base64":
        return "base64:" + key
    return key


def identity(f) -> tuple:
    return (f["check"], f["topic"], f.get("partition"), key_repr(f), tuple(f.get("offsets") or ()))


def positions(f) -> list[tuple]:
    fx = facts(f).get("positions")
    if fx:
        return [(p, o) for p, o in fx]
    if f.get("partition") is not None:
        return [(f["partition"], o) for o in f.get("offsets") or ()]
    return []


def subkind(f) -> str:
    check, fx = f["check"], facts(f)
    if check == "duplicate":
        return fx.get("kind", "")
    if check == "sequence_gap":
        return f["severity"]
    if check == "out_of_order":
        return out_of_order_scope(f)
    if check == "offset_gap":
        return fx.get("classification", f["severity"])
    if check == "silence":
        return "partition" if f.get("key") is None else "entity"
    if check in ("rate", "flow", "size", "custom"):
        return f"{fx.get('rule', '')}:{fx.get('kind', '')}"
    return ""


def out_of_order_scope(f) -> str:
    scope = facts(f).get("scope")
    if scope:
        return scope
    if f.get("partition") is None:
        return "split"
    return "entity" if f["severity"] == "warning" else "partition"


def is_burst(f) -> bool:
    return f["check"] == "duplicate" and facts(f).get("kind") == "burst"


def flow_effects(f) -> list[tuple]:
    """(topic, partition, offset) of a flow finding's effects: facts.effects; an orphan is its own."""
    fx = facts(f)
    if fx.get("effects"):
        return [tuple(e) for e in fx["effects"]]
    if fx.get("kind") == "orphan" and f.get("partition") is not None and f.get("offsets"):
        return [(f["topic"], f["partition"], f["offsets"][0])]
    return []


def burst_copies(f) -> tuple:
    """(partition, first, last) of a burst's copies."""
    c = facts(f).get("copies")
    if c:
        return c["partition"], c["first"], c["last"]
    offs = f.get("offsets") or [0]
    return f.get("partition"), min(offs), max(offs)


# ---------------------------------------------------------------------------------------------
# The grouping


class _Cause:
    def __init__(self, kind, anchor):
        self.kind, self.anchor, self.members = kind, anchor, []


class _Grouper:
    def __init__(self, findings, gap_ms):
        self.f = findings
        self.gap = timedelta(milliseconds=gap_ms)
        self.owner: list[_Cause | None] = [None] * len(findings)
        self.causes: list[_Cause] = []
        self.first = [_ts(x.get("first_ts")) for x in findings]
        self.last = [_ts(x.get("last_ts")) for x in findings]

    # helpers
    def free(self, pred=lambda f: True):
        return [i for i, f in enumerate(self.f) if self.owner[i] is None and pred(f)]

    def new(self, kind, anchor):
        cause = _Cause(kind, anchor)
        self.causes.append(cause)
        return cause

    def claim(self, cause, indices):
        for i in indices:
            if self.owner[i] is None:
                self.owner[i] = cause
                cause.members.append(i)

    def order(self, indices):
        return sorted(indices, key=lambda i: (self.first[i] is None, self.first[i] or datetime.min,
                                              _sortable(identity(self.f[i]))))

    def runs(self, indices):
        """Split indices into runs: windows [first, last + gap] that overlap, chained."""
        timed = [i for i in self.order(indices) if self.first[i] is not None]
        untimed = [i for i in self.order(indices) if self.first[i] is None]
        out, current, reach = [], [], None
        for i in timed:
            end = (self.last[i] or self.first[i]) + self.gap
            if current and self.first[i] <= reach:
                current.append(i)
                reach = max(reach, end)
            else:
                if current:
                    out.append(current)
                current, reach = [i], end
        if current:
            out.append(current)
        if untimed:
            out.append(untimed)
        return out

    # rule 1
    def republications(self):
        bursts = sorted(self.free(is_burst),
                        key=lambda i: _sortable((self.f[i]["topic"],) + burst_copies(self.f[i])))
        for b in bursts:
            fb = self.f[b]
            topic = fb["topic"]
            part, lo, hi = burst_copies(fb)
            cause = self.new("republication", ["republication", topic, part, lo])
            self.claim(cause, [b])

            def inside(f):
                if f["check"] == "flow":  # a flow finding is the cause's topic; its effects may be here
                    return any(t == topic and p == part and lo <= o <= hi for t, p, o in flow_effects(f))
                if f["topic"] != topic:
                    return False
                if f["check"] == "duplicate":
                    return not is_burst(f) and any(p == part and lo <= o <= hi for p, o in positions(f))
                if f["check"] in ("out_of_order", "sequence_regression"):
                    offs = f.get("offsets") or []
                    return f.get("partition") == part and bool(offs) and lo <= offs[-1] <= hi
                if f["check"] == "rate":
                    return (f.get("partition") == part and _overlap(
                        (_ts(f.get("first_ts")), _ts(f.get("last_ts"))), (self.first[b], self.last[b])))
                return False
            self.claim(cause, self.free(inside))

    # rule 2
    def partitioner(self):
        topics = sorted({self.f[i]["topic"] for i in self.free(lambda f: f["check"] == "partitioner")})
        for topic in topics:
            members = self.free(lambda f: f["check"] == "partitioner" and f["topic"] == topic)
            cause = self.new("partitioner", ["partitioner", topic])
            self.claim(cause, members)
            verdicts = {}
            for i in members:
                fx = facts(self.f[i])
                if fx.get("producer") is not None and "verdict" in fx:
                    verdicts[fx["producer"]] = tuple(fx["verdict"])

            def explained(f):
                parts = facts(f).get("partitions")
                if not parts or not verdicts or not any(a.get("producers") for a in parts):
                    return True  # who wrote the key's partitions is unknown: the disagreement is the explanation at hand
                for a in parts:
                    for b in parts:
                        if a["partition"] == b["partition"]:
                            continue
                        for pa in a.get("producers") or ():
                            for pb in b.get("producers") or ():
                                if pa in verdicts and pb in verdicts and verdicts[pa] != verdicts[pb]:
                                    return True
                return False
            split = self.free(lambda f: f["check"] == "split_key" and f["topic"] == topic and explained(f))
            self.claim(cause, split)
            self.absorb_split_entities(cause, topic, {key_repr(self.f[i]) for i in split}, set())

    def absorb_split_entities(self, cause, topic, keys, entities, fallback=False):
        def linked(f):
            if f["check"] != "out_of_order" or f["topic"] != topic or out_of_order_scope(f) != "split":
                return False
            fx = facts(f)
            if fx.get("entity") is not None and fx["entity"] in entities:
                return True
            if "keys" in fx:
                return bool(set(fx["keys"]) & keys)
            return key_repr(f) in keys or fallback
        self.claim(cause, self.free(linked))

    # rule 3
    def key_encodings(self):
        groups = defaultdict(list)
        for i in self.free(lambda f: f["check"] == "key_encoding"):
            f = self.f[i]
            encs = tuple(sorted({e["encoding"] for e in facts(f).get("encodings") or ()}))
            groups[(f["topic"], encs)].append(i)
        for (topic, encs), members in sorted(groups.items()):
            cause = self.new("key_encoding", ["key_encoding", topic, list(encs)])
            self.claim(cause, members)
            keys, logical = set(), set()
            for i in members:
                f = self.f[i]
                keys.add(key_repr(f))
                fx = facts(f)
                if fx.get("logical_key") is not None:
                    logical.add(fx["logical_key"])
                keys.update(e["key"] for e in fx.get("encodings") or () if e.get("key") is not None)
            # no split_key: the same bytes hash alike, so an encoding never splits one key's bytes
            self.absorb_split_entities(cause, topic, keys | logical, logical, fallback=not logical)

    # rule 4
    def partition_count_changes(self):
        topics = sorted({self.f[i]["topic"] for i in
                         self.free(lambda f: f["check"] == "partition_count_change")})
        for topic in topics:
            members = self.free(lambda f: f["check"] == "partition_count_change" and f["topic"] == topic)
            cause = self.new("partition_count_change", ["partition_count_change", topic])
            self.claim(cause, members)
            keys, known = set(), True
            for i in members:
                if "keys" in facts(self.f[i]):
                    keys.update(facts(self.f[i])["keys"])
                else:
                    known = False
            split = self.free(lambda f: f["check"] == "split_key" and f["topic"] == topic
                              and (not known or key_repr(f) in keys))
            self.claim(cause, split)
            self.absorb_split_entities(cause, topic, {key_repr(self.f[i]) for i in split}, set())

    # rule 5
    def rate_bursts(self):
        rates = sorted(self.free(lambda f: f["check"] == "rate"),
                       key=lambda i: _sortable((self.f[i]["topic"], self.f[i].get("partition"),
                                                key_repr(self.f[i]), self.f[i].get("first_ts"))))
        for r in rates:
            fr = self.f[r]
            cause = self.new("rate_burst", ["rate_burst", fr["topic"], fr.get("partition"),
                                            key_repr(fr), fr.get("first_ts")])
            self.claim(cause, [r])
            start, end = self.first[r], self.last[r]  # the rate's worst window
            if start is None or end is None:
                continue
            reach = (start - (end - start), end + (end - start))

            def touches(f):
                """A silence of the burst's entity (or partition) that ends or begins at the burst."""
                if f["check"] != "silence" or f["topic"] != fr["topic"]:
                    return False
                if fr.get("key") is not None:
                    same = (facts(f).get("entity") or key_repr(f)) == key_repr(fr)
                else:
                    same = f.get("key") is None and f.get("partition") == fr.get("partition")
                return same and _overlap((_ts(f.get("first_ts")), _ts(f.get("last_ts"))), reach)
            self.claim(cause, self.free(touches))

    # rule 6
    def growing_values(self):
        groups = defaultdict(list)
        for i in self.free(lambda f: f["check"] == "size"):
            groups[(self.f[i]["topic"], key_repr(self.f[i]))].append(i)
        for (topic, key), members in sorted(groups.items(), key=lambda kv: _sortable(kv[0])):
            self.claim(self.new("growing_value", ["growing_value", topic, key]), members)

    # rule 7
    def schema_changes(self):
        """The schema_drift findings of one topic and one change (facts.change_id): one deploy, all partitions."""
        groups = defaultdict(list)
        for i in self.free(lambda f: f["check"] == "schema_drift"):
            groups[(self.f[i]["topic"], facts(self.f[i]).get("change_id"))].append(i)
        for (topic, change), members in sorted(groups.items(), key=lambda kv: _sortable(kv[0])):
            self.claim(self.new("schema_change", ["schema_change", topic, change]), members)

    # rules 8-10
    def run_causes(self, kind, pred, key):
        groups = defaultdict(list)
        for i in self.free(pred):
            groups[key(self.f[i])].append(i)
        made = []
        for k, members in sorted(groups.items(), key=lambda kv: _sortable(kv[0])):
            for run in self.runs(members):
                head = self.f[run[0]]
                name = kind or head["check"]
                cause = self.new(name, [name, *k, _jsonable(identity(head))])
                self.claim(cause, run)
                made.append(cause)
        return made

    def late_events(self):
        made = self.run_causes(
            "late_events",
            lambda f: f["check"] == "out_of_order" and out_of_order_scope(f) in ("entity", "partition"),
            lambda f: (f["topic"], facts(f).get("producer")))
        for cause in made:
            late = {(self.f[i]["topic"], self.f[i]["partition"], key_repr(self.f[i]), self.f[i]["offsets"][-1])
                    for i in cause.members if self.f[i].get("offsets")}
            self.claim(cause, self.free(
                lambda f: f["check"] == "sequence_regression" and bool(f.get("offsets"))
                and (f["topic"], f.get("partition"), key_repr(f), f["offsets"][-1]) in late))

    def lost_events(self):
        self.run_causes("lost_events",
                        lambda f: f["check"] == "sequence_gap" and f["severity"] == "error",
                        lambda f: (f["topic"],))

    def the_rest(self):
        self.run_causes(None, lambda f: True,
                        lambda f: (f["check"], subkind(f), f["topic"], facts(f).get("producer")))

    def run(self):
        self.republications()
        self.partitioner()
        self.key_encodings()
        self.partition_count_changes()
        self.rate_bursts()
        self.growing_values()
        self.schema_changes()
        self.late_events()
        self.lost_events()
        self.the_rest()
        return self


def _jsonable(ident):
    return [*ident[:4], list(ident[4])]


def _overlap(a, b):
    if None in a or None in b:
        return False
    return a[0] <= b[1] and b[0] <= a[1]


def _sortable(value):
    """A total order over tuples holding None, ints and strings (None first)."""
    if isinstance(value, (tuple, list)):
        return tuple(_sortable(v) for v in value)
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value))


def cause_id(kind, anchor):
    text = json.dumps(anchor, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return f"{kind}-{digest}"


def group(findings: list[dict], *, episode_gap_ms: int = DEFAULT_EPISODE_GAP_MS):
    """(findings_with_cause, causes): every finding copied with its `cause` id; causes worst first."""
    copies = [dict(f) for f in findings]
    grouper = _Grouper(copies, episode_gap_ms).run()
    causes, taken = [], set()
    for cause in grouper.causes:
        if not cause.members:
            continue
        anchor = cause.anchor
        cid = cause_id(cause.kind, anchor)
        if cid in taken:  # anchors are unique by construction; keep ids unique regardless
            smallest = min((identity(copies[i]) for i in cause.members), key=_sortable)
            cid = cause_id(cause.kind, [anchor, _jsonable(smallest)])
        taken.add(cid)
        for i in cause.members:
            copies[i]["cause"] = cid
        causes.append(_describe(cid, cause, grouper))
    causes.sort(key=lambda c: (-SEVERITY_RANK[c["severity"]], -c["total"], c["first_ts"] is None,
                               _ts(c["first_ts"]) or datetime.min, c["id"]))
    return copies, causes


# ---------------------------------------------------------------------------------------------
# Describing a cause


def _describe(cid, cause, g):
    members = [g.f[i] for i in cause.members]
    topics = sorted({f["topic"] for f in members})
    parts = defaultdict(set)
    producers = set()
    for f in members:
        if f.get("partition") is not None:
            parts[f["topic"]].add(f["partition"])
        fx = facts(f)
        for p, _ in fx.get("positions") or ():
            parts[f["topic"]].add(p)
        for entry in fx.get("partitions") or ():
            if isinstance(entry, dict):
                parts[f["topic"]].add(entry["partition"])
                producers.update(entry.get("producers") or ())
        if fx.get("copies"):
            parts[f["topic"]].add(fx["copies"]["partition"])
        if fx.get("producer") is not None:
            producers.add(fx["producer"])
        producers.update(fx.get("producers") or ())
        for e in fx.get("encodings") or ():
            producers.update(e.get("producers") or ())
    # the members' own strings (milliseconds or microseconds, as the findings wrote them)
    firsts = [i for i in cause.members if g.first[i] is not None]
    lasts = [i for i in cause.members if g.last[i] is not None]
    counts = Counter(f["check"] for f in members)
    return {
        "id": cid,
        "kind": cause.kind,
        "severity": max((f["severity"] for f in members), key=SEVERITY_RANK.__getitem__),
        "summary": _summary(cause.kind, members),
        "topics": topics,
        "partitions": {t: sorted(parts[t]) for t in topics if parts[t]},
        "producers": sorted(producers),
        "first_ts": g.f[min(firsts, key=g.first.__getitem__)]["first_ts"] if firsts else None,
        "last_ts": g.f[max(lasts, key=g.last.__getitem__)]["last_ts"] if lasts else None,
        "findings": dict(sorted(counts.items())),
        "total": len(members),
    }


def _duration(ms) -> str:
    """`20.6 s`, `1 s` (tenths below a minute, without a trailing .0), `264 s`."""
    if ms < 60_000:
        return f"{ms / 1000:.1f}".removesuffix(".0") + " s"
    return f"{round(ms / 1000)} s"


def _clock(ts) -> str:
    return _ts(ts).strftime("%H:%M:%S") if ts else "?"


def _window(members) -> str:
    firsts = [f["first_ts"] for f in members if f.get("first_ts")]
    lasts = [f["last_ts"] for f in members if f.get("last_ts")]
    if not firsts:
        return ""
    return f"{_clock(min(firsts, key=_ts))}–{_clock(max(lasts, key=_ts))}"


def _plural(n, one, many=None):
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def _names(items, limit=5):
    items = list(items)
    shown = ", ".join(str(x) for x in items[:limit])
    return shown if len(items) <= limit else f"{shown}, … ({len(items)} in all)"


def _and(items):
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _verdict_label(verdict) -> str:
    if not verdict:
        return "no known partitioner"
    name = verdict[0].split("/")[0]  # candidates that place every key alike are named together: a/b
    return PARTITIONER_LABELS.get(name, name)


def _summary(kind, members) -> str:
    by = defaultdict(list)
    for f in members:
        by[f["check"]].append(f)
    topic = members[0]["topic"]
    split_entities = [f for f in by["out_of_order"] if out_of_order_scope(f) == "split"]

    if kind == "republication":
        burst = next(f for f in members if is_burst(f))
        fx = facts(burst)
        part, lo, hi = burst_copies(burst)
        n = fx.get("copies", {}).get("records") or len(burst.get("offsets") or ())
        origs = fx.get("originals")
        if origs:
            rng = ", ".join((f"{o['first']}–{o['last']}" if o["partition"] == part
                             else f"{o['partition']}:{o['first']}–{o['last']}") for o in origs)
            later = f", {_duration(fx['delay_ms'])} later" if fx.get("delay_ms") is not None else ""
            return f"{topic}/{part}: offsets {lo}–{hi} re-publish {rng} ({_plural(n, 'record')}{later})"
        return f"{topic}/{part}: {_plural(n, 'record')} at offsets {lo}–{hi} repeat earlier records"

    if kind == "partitioner":
        verdicts, records = {}, Counter()
        for f in by["partitioner"]:
            fx = facts(f)
            if fx.get("producer") is not None and "verdict" in fx:
                verdicts[fx["producer"]] = tuple(fx["verdict"])
                records[fx["producer"]] = fx.get("records", 0)
        tail = _split_tail(by["split_key"], split_entities)
        groups = defaultdict(list)
        for producer, verdict in verdicts.items():
            groups[verdict].append(producer)
        if len(groups) >= 2:
            ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), -sum(records[p] for p in kv[1]),
                                                             sorted(kv[1])))
            major_verdict, major = ranked[0]
            odd = [(v, ps) for v, ps in ranked[1:]]
            odd_text = "; ".join(
                f"producer{'s' if len(ps) > 1 else ''} {_and(sorted(ps))} place{'' if len(ps) > 1 else 's'} "
                f"keys with {_verdict_label(v)}" for v, ps in odd)
            use = "use" if len(major) > 1 else "uses"
            return f"{topic}: {odd_text} while {_and(sorted(major))} {use} {_verdict_label(major_verdict)}{tail}"
        if len(groups) == 1:
            (verdict, ps), = groups.items()
            return f"{topic}: {_and(sorted(ps))} place{'s' if len(ps) == 1 else ''} keys with {_verdict_label(verdict)}{tail}"
        n = len(by["partitioner"])
        return f"{topic}: the producers disagree on the partitioner ({_plural(n, 'producer')}){tail}"

    if kind == "key_encoding":
        keys = by["key_encoding"]
        encs, odd_producers = Counter(), set()
        for f in keys:
            for e in facts(f).get("encodings") or ():
                encs[e["encoding"]] += e.get("records", 1)
        enc_list = sorted(encs, key=lambda e: (-encs[e], e))
        for f in keys:
            for e in facts(f).get("encodings") or ():
                if enc_list and e["encoding"] != enc_list[0]:
                    odd_producers.update(e.get("producers") or ())
        extra = f", {_plural(len(split_entities), 'more entity', 'more entities')} split over partitions" \
            if split_entities else ""
        if len(enc_list) >= 2:
            odd = " and ".join(ENCODING_LABELS.get(e, e) for e in enc_list[1:])
            who = f"producer {_and(sorted(odd_producers))} writes" if odd_producers else "some records write"
            return (f"{topic}: {who} keys as {odd} where others write {ENCODING_LABELS.get(enc_list[0], enc_list[0])}: "
                    f"{_plural(len(keys), 'key')} written both ways{extra}")
        return f"{topic}: {_plural(len(keys), 'logical key')} written as different bytes{extra}"

    if kind == "partition_count_change":
        fx = facts(by["partition_count_change"][0])
        tail = _split_tail(by["split_key"], split_entities)
        if fx.get("partitions_then") and fx.get("partitions_now"):
            return (f"{topic}: keys still placed for {fx['partitions_then']} partitions after the topic "
                    f"grew to {fx['partitions_now']}{tail}")
        return f"{topic}: the partition count changed under its producers{tail}"

    if kind == "rate_burst":
        rate = by["rate"][0]
        fx = facts(rate)
        first = _ts(rate["first_ts"])
        where = f"{topic}/{rate['partition']}" if rate.get("partition") is not None else topic
        per = str(fx.get("per") or "entity").removeprefix("$.").removeprefix("header:")
        who = (f"{per} {rate['key']}" if rate.get("key") is not None
               else "the topic" if per == "topic" else f"partition {rate.get('partition')}")
        if fx.get("worst") and fx.get("window_ms"):
            rule = f"{fx['rule']} allows {fx['limit']:,}" if fx.get("rule") and fx.get("limit") is not None else "over the limit"
            windows = f", {_plural(fx['windows'], 'window')} over the limit" if fx.get("windows") else ""
            head = (f"{where}: {who}: {_plural(fx['worst'][2], 'event')} in {_duration(fx['window_ms'])} "
                    f"at {first.strftime('%H:%M:%S')} where {rule}{windows}")
        else:
            span = (_ts(rate["last_ts"]) - first).total_seconds() * 1000
            head = f"{where}: {who}: a burst of events in {_duration(span)} from {first.strftime('%H:%M:%S')}"
        tails = []
        for s in sorted(by["silence"], key=lambda s: _ts(s["first_ts"])):
            silent = facts(s).get("silent_ms") or (_ts(s["last_ts"]) - _ts(s["first_ts"])).total_seconds() * 1000
            before = _ts(s["last_ts"]) <= first
            tails.append(f"after {_duration(silent)} of silence" if before else f"then silent for {_duration(silent)}")
        return ", ".join([head, *tails])

    if kind == "growing_value":
        grow = [f for f in by["size"] if facts(f).get("kind") == "growing"] or by["size"]
        f = grow[0]
        fx = facts(f)
        where = f"{topic}/{f['partition']}" if f.get("partition") is not None else topic
        if fx.get("first_bytes") is not None and fx.get("last_bytes") is not None:
            versions = f" over {_plural(fx['versions'], 'version')}" if fx.get("versions") else ""
            factor = f" (×{fx['factor']:.1f})" if fx.get("factor") else ""
            return (f"{where}: the value of key {f['key']} grows from {fx['first_bytes']:,} to "
                    f"{fx['last_bytes']:,} bytes{factor}{versions}")
        if fx.get("kind") == "too_large" and fx.get("largest_bytes"):
            return f"{where}: values of key {f['key']} reach {fx['largest_bytes']:,} bytes"
        return f"{where}: the values of key {f['key']} grow too large ({_plural(len(by['size']), 'size finding')})"

    if kind == "schema_change":
        drift = sorted(by["schema_drift"], key=lambda f: _ts(f["first_ts"]) if f.get("first_ts") else datetime.max)
        fx = facts(drift[0])
        what = _and([_change_text(c) for c in fx.get("changes") or ()] or ["changes its value schema"])
        prod = next((facts(f)["producer"] for f in drift if facts(f).get("producer")), None)
        who = f" producer {prod}" if prod else ""
        records = sum(facts(f).get("records") or 0 for f in drift)
        tail = [_plural(records, "record")] if records else []
        if COMPATIBILITY_TEXT.get(fx.get("compatibility")):
            tail.append(COMPATIBILITY_TEXT[fx["compatibility"]])
        return f"{topic}: from {_clock(drift[0]['first_ts'])}{who} {what}" + (f": {', '.join(tail)}" if tail else "")

    if kind == "flow" and by["flow"]:
        return _flow_summary(topic, by["flow"])

    if kind == "late_events":
        late = by["out_of_order"]
        lateness = [facts(f).get("lateness_ms") or
                    (_ts(f["last_ts"]) - _ts(f["first_ts"])).total_seconds() * 1000 for f in late]
        entities = sorted({facts(f).get("entity") or f.get("key") for f in late}, key=str)
        parts = sorted({f["partition"] for f in late})
        lo, hi = min(lateness) / 1000, max(lateness) / 1000
        how = f"{lo:.0f}–{hi:.0f} s" if round(lo) != round(hi) else f"{hi:.0f} s"
        prod = {facts(f).get("producer") for f in late} - {None}
        by_prod = f" from producer{'s' if len(prod) > 1 else ''} {_and(sorted(prod))}" if prod else ""
        regress = f"; {_plural(len(by['sequence_regression']), 'sequence regression')}" if by["sequence_regression"] else ""
        return (f"{topic}: {_plural(len(late), 'event')} of {_plural(len(entities), 'entity', 'entities')}{by_prod} "
                f"arrived {how} late (partition{'s' if len(parts) > 1 else ''} {_names(parts)}{regress}), {_window(late)}")

    if kind == "lost_events":
        gaps = by["sequence_gap"]
        items, total = [], 0
        for f in sorted(gaps, key=lambda f: f["first_ts"] or ""):
            missing = facts(f).get("missing")
            entity = facts(f).get("entity") or f.get("key")
            if missing:
                a, b = missing
                total += b - a + 1
                items.append(f"{entity} seq {a}" if a == b else f"{entity} seq {a}–{b}")
            else:
                items.append(str(entity))
        if total:
            lead = f"{topic}: {_plural(total, 'event')} lost: entit{'y' if len(items) == 1 else 'ies'} "
        else:
            lead = f"{topic}: {_plural(len(gaps), 'lost sequence gap')} in entit{'y' if len(items) == 1 else 'ies'} "
        return f"{lead}{_names(items)} (later events exist), {_window(gaps)}"

    # a run of one check, or a finding alone
    check = members[0]["check"]
    one, many = CHECK_NOUNS.get(check, (f"{check} finding", f"{check} findings"))
    if check == "custom" and facts(members[0]).get("rule"):  # docs/rules.md: a custom rule's findings, by its name
        one, many = (f"finding of rule {facts(members[0])['rule']}", f"findings of rule {facts(members[0])['rule']}")
    partitions = sorted({f.get("partition") for f in members} - {None})
    where = f"{topic}/{partitions[0]}" if len(partitions) == 1 and all(f.get("partition") is not None for f in members) else topic
    if check == "silence" and len(members) == 1:
        f = members[0]
        fx = facts(f)
        silent = fx.get("silent_ms") or (_ts(f["last_ts"]) - _ts(f["first_ts"])).total_seconds() * 1000
        who = f"entity {f['key']}" if f.get("key") is not None else f"partition {f.get('partition')}"
        usual = f" ({fx['factor']:.0f}× its usual interval)" if fx.get("factor") else ""
        return f"{where}: {who} silent for {_duration(silent)}{usual}"
    keys = sorted({str(f.get("key")) for f in members if f.get("key") is not None})
    for_keys = f" for {_plural(len(keys), 'key')}" if len(keys) > 1 else (f" for key {keys[0]}" if keys else "")
    text = f"{where}: {len(members):,} {one if len(members) == 1 else many}{for_keys}"
    if check == "offset_gap" and len(members) == 1 and members[0].get("offsets"):
        offs = members[0]["offsets"]
        text += f" at {offs[0]}–{offs[-1]}"
    window = _window(members)
    return f"{text}, {window}" if window else text


# A schema change's verdict in the registry's terms (facts.compatibility: the level the change keeps).
COMPATIBILITY_TEXT = {"FULL": "compatible both ways (FULL)", "BACKWARD": "FORWARD-incompatible",
                      "FORWARD": "BACKWARD-incompatible", "NONE": "BACKWARD- and FORWARD-incompatible"}


def _a(type_name) -> str:
    text = str(type_name)
    return f"{'an' if text[:1].lower() in 'aeiou' else 'a'} {text}"


def _change_text(change: dict) -> str:
    """`sends data.price as a string (was a number)`, `adds data.currency`, `drops data.x`."""
    path, how = change.get("path"), change.get("change")
    if how == "type_changed":
        was = f" (was {_a(change['from'])})" if change.get("from") is not None else ""
        return f"sends {path} as {_a(change.get('to'))}{was}"
    if how == "added":
        return f"adds {path}"
    if how == "removed":
        return f"drops {path}"
    if how == "default_missing":
        return f"gives {path} no default"
    return f"changes {path}"


FLOW_KINDS = {  # what a flow finding says of its trigger (docs/rules.md: a flow's cause; "trigger" here)
    "missing": ("trigger without its effect", "triggers without their effect"),
    "pending": ("trigger whose effect may still come", "triggers whose effect may still come"),
    "late": ("trigger whose effect came late", "triggers whose effect came late"),
    "repeated": ("trigger with its effect repeated", "triggers with their effect repeated"),
    "orphan": ("effect without a trigger", "effects without a trigger"),
}


def _flow_summary(topic, flows) -> str:
    """`match-events: flow goal_repriced: 2 triggers with their effect repeated, 19:10:11–19:11:36`:
    a flow's sides are its trigger and its effect, so a cause's own name is not reused."""
    fx = facts(flows[0])
    one, many = FLOW_KINDS.get(fx.get("kind"), ("flow finding", "flow findings"))
    rule = f"flow {fx['rule']}: " if fx.get("rule") else ""
    return f"{topic}: {rule}{len(flows):,} {one if len(flows) == 1 else many}, {_window(flows)}"


def _split_tail(split_keys, split_entities) -> str:
    if not split_keys and not split_entities:
        return ""
    parts = []
    if split_keys:
        counts = {len(facts(f).get("partitions") or ()) for f in split_keys}
        if counts == {2}:
            parts.append(f"{_plural(len(split_keys), 'key')} on two partitions")
        else:
            parts.append(f"{_plural(len(split_keys), 'key')} split over partitions")
    if split_entities:
        n = len(split_entities)
        parts.append(f"{n:,} {'entity' + chr(39) + 's' if n == 1 else 'entities' + chr(39)} order across partitions lost")
    return ": " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------
# Showing causes


def counts_text(cause) -> str:
    parts = sorted(cause["findings"].items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{n:,} {check}" for check, n in parts)


def to_text(causes: list[dict], *, limit: int | None = None) -> list[str]:
    """Lines for `evkit check`: the causes worst first, one line each, with their findings per check."""
    if not causes:
        return ["no causes: nothing was found"]
    total = sum(c["total"] for c in causes)
    shown = causes if limit is None else causes[:limit]
    lines = [f"{len(causes)} cause{'s' if len(causes) != 1 else ''} of {total:,} finding{'s' if total != 1 else ''}, worst first:"]
    width = len(str(len(shown)))
    for n, c in enumerate(shown, 1):
        lines.append(f"  {n:>{width}}. [{c['severity']}] {c['summary']}")
        lines.append(f"  {'':>{width}}  {c['total']:,} finding{'s' if c['total'] != 1 else ''} "
                     f"({counts_text(c)}); {c['id']}")
    if len(shown) < len(causes):
        lines.append(f"  … {len(causes) - len(shown)} more")
    return lines


SEVERITY_COLOURS = {"error": "#b00020", "warning": "#9a6700", "info": "#0b5cad"}


def to_html(causes: list[dict], *, link: bool = False) -> str:
    """The causes as a compact HTML table, worst first: severity, summary, findings per check, where
    and when; nothing cut off. `link=True` makes each summary a link to `#cause-<id>` (the report's
    section that shows the cause)."""
    from html import escape

    if not causes:
        return '<p class="evkit-causes">No causes: no check reported anything.</p>'
    rows = []
    for n, c in enumerate(causes, 1):
        colour = SEVERITY_COLOURS.get(c["severity"], "#333")
        where = "; ".join(f"{t} {','.join(map(str, c['partitions'][t]))}" if c["partitions"].get(t) else t
                          for t in c["topics"])
        summary = escape(c["summary"])
        if link:
            summary = f'<a href="#cause-{escape(c["id"])}">{summary}</a>'
        when = f"{_clock(c['first_ts'])}–{_clock(c['last_ts'])}" if c.get("first_ts") and c.get("last_ts") else ""
        cells = [(str(n), "right"), (f'<b style="color:{colour}">{escape(c["severity"])}</b>', "left"),
                 (summary, "left"), (escape(where), "left"), (escape(", ".join(c["producers"])), "left"),
                 (escape(counts_text(c)), "left"), (when, "left")]
        rows.append("<tr>" + "".join(f'<td style="text-align:{align};vertical-align:top;white-space:normal">{text}</td>'
                                     for text, align in cells) + "</tr>")
    head = "".join(f'<th style="text-align:left">{h}</th>'
                   for h in ("#", "severity", "cause", "topics / partitions", "producers", "findings", "UTC"))
    total = sum(c["total"] for c in causes)
    caption = (f"{len(causes)} cause{'s' if len(causes) != 1 else ''} of {total:,} finding{'s' if total != 1 else ''}, "
               "worst first")
    return (f'<table class="evkit-causes"><caption style="text-align:left;caption-side:top">{caption}</caption>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
