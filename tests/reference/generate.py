"""Hypothesis strategies for the differential test: Kafka logs with the faults evkit looks for.

A `Scenario` is a log per partition (records and offsets Kafka never delivers: transaction markers,
aborted batches, compacted records), the dumps taken of it (ranges, low watermarks, isolation, the
moment each fixed its end offsets, which dataset directory holds them), field mappings and check
parameters. Producers place keys with librdkafka's own partitioners (confluent_kafka.murmur2 =
Java's, consistent = CRC-32, fnv1a), at random, or for an earlier partition count; they write keys
as text, 4-byte integers or JSON strings. Faults drawn per event: sequence holes, repeats and
regressions, exact and logical duplicates, re-published ranges, late event times, silences, null
and empty keys, tombstones, non-JSON values, missing and unparseable fields; per producer, a
structure change from some event on (a field added, seq retyped as a string, the user removed).

For the rules (docs/rules.md), half the scenarios add topics `req` and `ack` (`rule_logs`):
requests and their acknowledgements (in time, late, missing, repeated, orphaned, retried), bursts
of pings and growing documents; every scenario draws rate, flow and custom-SQL rules (`rule_tables`)
over them and the other topics, and size thresholds.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import confluent_kafka
from hypothesis import strategies as st

from .stream import DumpedRange, Record, Stream, TopicInfo

BASE_MS = 1_700_000_000_000
DEFAULT_SOURCES = {"entity": "key", "event_time": "timestamp", "trace_id": "header:traceparent"}
PLACEMENTS = ("murmur2", "consistent", "fnv1a", "random", "grown")
ENCODINGS = ("text", "int32", "json")


@dataclass
class Dump:
    """One dump run: what it read of each partition, into which dataset directory."""

    dataset: int
    ranges: dict[tuple[str, int], tuple[int, int]]
    lows: dict[tuple[str, int], int]
    isolation: str | None
    end_fixed_at: int | None


@dataclass
class Scenario:
    cluster_id: str
    partition_counts: dict[str, int]
    configs: dict[str, dict[str, str]]
    logs: dict[tuple[str, int], list[dict | None]]  # offset -> record dict, None = never delivered
    dumps: list[Dump]
    mappings: dict[str, dict[str, str]]  # topic -> the analyst's field sources
    transactional: dict[str, bool]
    params: dict[str, dict[str, float | str]] = field(default_factory=dict)
    rules: dict[str, dict[str, dict]] = field(default_factory=dict)  # {"rates": {name: table}, "flows": ..., "rules": ...}

    def dumped_rows(self, dump: Dump) -> list[dict]:
        return [row for (topic, partition), (start, end) in dump.ranges.items()
                for row in self.logs[(topic, partition)][start:end] if row is not None]

    def config(self) -> dict:
        """The evkit config (TOML as a mapping) with this scenario's mappings and parameters."""
        topics = {t: {**m, **({"transactional": self.transactional[t]} if t in self.transactional else {})}
                  for t, m in self.mappings.items()}
        return {"topics": topics, "checks": self.params,
                **{kind: tables for kind, tables in self.rules.items() if tables}}

    def stream(self, end_fixed_at: dict[int, int]) -> Stream:
        """What the model sees: every dumped record once, one DumpedRange per dump and partition."""
        records = {}
        ranges = []
        for number, dump in enumerate(self.dumps):
            for (topic, partition), (start, end) in dump.ranges.items():
                log = self.logs[(topic, partition)]
                skipped = tuple(interval for interval in intervals(o for o in range(start, end) if log[o] is None))
                ranges.append(DumpedRange(self.cluster_id, f"d{dump.dataset}", f"run{number}", topic, partition,
                                          start, end, dump.lows[(topic, partition)], dump.isolation, skipped,
                                          end_fixed_at[number]))
                for row in log[start:end]:
                    if row is not None:
                        records[(topic, partition, row["offset"])] = Record(
                            self.cluster_id, topic, partition, row["offset"], row["timestamp"], row["key"],
                            row["value"], tuple(row["headers"]))
        topics = [TopicInfo(self.cluster_id, t, n, self.configs[t]) for t, n in self.partition_counts.items()
                  if any(tp[0] == t for d in self.dumps for tp in d.ranges)]
        return Stream(
            records=list(records.values()), ranges=ranges, topics=topics,
            fields={t: {**DEFAULT_SOURCES, **self.mappings.get(t, {})} for t, _ in self.partition_counts.items()},
            explicit={t: set(self.mappings.get(t, {})) for t in self.partition_counts},
            transactional={t: self.transactional.get(t) for t in self.partition_counts},
            params=self.params, rules=self.rules,
        )


def intervals(offsets) -> list[tuple[int, int]]:
    """Consecutive offsets as half-open intervals."""
    result: list[list[int]] = []
    for offset in offsets:
        if result and result[-1][1] == offset:
            result[-1][1] += 1
        else:
            result.append([offset, offset + 1])
    return [tuple(i) for i in result]


def encode_key(entity: int, encoding: str) -> bytes:
    if encoding == "int32":
        return entity.to_bytes(4, "big", signed=True)
    if encoding == "json":
        return json.dumps(str(entity)).encode()
    return str(entity).encode()


def place(placement: str, key: bytes | None, count: int, draw) -> int:
    if key is None or placement == "random":
        return draw(st.integers(0, count - 1))
    if placement == "grown":  # written while the topic had fewer partitions
        return confluent_kafka.murmur2(key, max(1, count // 2))
    return getattr(confluent_kafka, placement)(key, count)


def event_value(draw, entity: int, seq: int, event_ms: int, counter: int, drift: str | None = None) -> bytes | None:
    """A JSON value with id, seq, ts, type and user; sometimes damaged, partial or no value at all.
    `drift` is the producer's structure change from its drift point on (schema_drift): `add` a nested
    field, `retype` seq as a string, `remove` the user."""
    shape = draw(st.sampled_from(["ok"] * 12 + ["tombstone", "not_json", "no_seq", "bad_seq", "str_seq",
                                                "iso_ts", "bad_ts", "no_id", "float_seq", "array"]))
    if shape == "tombstone":
        return None
    if shape == "not_json":
        return draw(st.sampled_from([b"plain text", b"\xff\xfe\x00", b"", b"{broken"]))
    if shape == "array":
        return b"[1, 2]"
    value: dict = {"id": f"u{entity}-{seq}", "seq": seq, "ts": event_ms, "type": "bet", "user": f"u{entity}"}
    if shape == "no_seq":
        del value["seq"]
    elif shape == "bad_seq":
        value["seq"] = "x"
    elif shape == "str_seq":
        value["seq"] = str(seq)
    elif shape == "float_seq":
        value["seq"] = seq + 0.5
    elif shape == "iso_ts":
        value["ts"] = _iso(event_ms)
    elif shape == "bad_ts":
        value["ts"] = "yesterday"
    elif shape == "no_id":
        del value["id"]
    if drift == "add":
        value["v2"] = {"n": counter}
    elif drift == "retype" and isinstance(value.get("seq"), int):
        value["seq"] = str(value["seq"])
    elif drift == "remove":
        value.pop("user", None)
    return json.dumps(value).encode()


def _iso(ms: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def topic_log(draw, topic: str, count: int, compacted: bool) -> dict[tuple[str, int], list[dict | None]]:
    """The log of every partition of one topic, produced by 1-3 producers with their own habits."""
    producers = [
        {"placement": draw(st.sampled_from(PLACEMENTS)), "encoding": draw(st.sampled_from(ENCODINGS)),
         "tag": draw(st.sampled_from([None, f"svc-{n}".encode()])),
         "drift": draw(st.sampled_from([None, None, "add", "retype", "remove"])), "drift_from": draw(st.integers(0, 60))}
        for n in range(draw(st.integers(1, 3)))
    ]
    entities = draw(st.integers(1, 6))
    logs: dict[int, list[dict | None]] = {p: [] for p in range(count)}
    next_seq = [0] * entities
    written: list[dict] = []
    now = BASE_MS
    for counter in range(draw(st.integers(0, 70))):
        fault = draw(st.sampled_from(["none"] * 10 + ["hole", "repeat", "regress", "exact", "logical", "late",
                                                      "silence", "republish", "null_key", "empty_key", "gap"]))
        now += draw(st.sampled_from([0, 1, 10, 250, 1000]))
        if fault == "silence":
            now += draw(st.sampled_from([5_000, 60_000, 600_000]))
        if fault == "republish" and len(written) >= 3:
            start = draw(st.integers(0, len(written) - 3))
            for copy in written[start:start + draw(st.integers(3, 12))]:
                now += draw(st.sampled_from([0, 5, 100]))
                append(logs, copy["partition"], {**copy, "timestamp": now}, draw)
            continue
        if fault in ("exact", "logical") and written:
            original = draw(st.sampled_from(written))
            copy = dict(original, timestamp=now)
            if fault == "logical" and copy["value"]:
                copy["value"] = copy["value"].replace(b'"type": "bet"', b'"type": "retry"')
            append(logs, copy["partition"], copy, draw)
            continue
        producer = draw(st.sampled_from(producers))
        entity = draw(st.integers(0, entities - 1))
        if fault == "hole":
            next_seq[entity] += draw(st.integers(1, 3))
        seq = next_seq[entity]
        if fault == "repeat":
            seq = max(0, seq - 1)
        elif fault == "regress":
            seq = max(0, seq - draw(st.integers(2, 5)))
        else:
            next_seq[entity] += 1
        event_ms = now - (draw(st.sampled_from([1, 2_000, 30_000])) if fault == "late" else 0)
        key = None if fault == "null_key" else b"" if fault == "empty_key" else encode_key(entity, producer["encoding"])
        partition = place(producer["placement"], key, count, draw)
        headers = [("traceparent", f"00-{counter:032x}-{counter:016x}-01".encode())]
        if producer["tag"] is not None:
            headers.append(("producer", producer["tag"]))
        row = {"topic": topic, "partition": partition, "timestamp": now, "key": key, "headers": headers,
               "value": event_value(draw, entity, seq, event_ms, counter,
                                    producer["drift"] if counter >= producer["drift_from"] else None)}
        if fault == "gap" or (compacted and draw(st.booleans())):
            logs[partition].extend([None] * draw(st.sampled_from([1, 1, 2, 5])))
        append(logs, partition, row, draw)
        written.append(row)
    for partition, log in logs.items():  # a range may end in a transaction marker
        if draw(st.integers(0, 4)) == 0:
            log.append(None)
    return {(topic, p): log for p, log in logs.items()}


def append(logs: dict[int, list[dict | None]], partition: int, row: dict, draw) -> None:
    log = logs[partition]
    log.append({**row, "partition": partition, "offset": len(log), "headers": list(row["headers"])})


def dumps_of(draw, logs: dict[tuple[str, int], list]) -> list[Dump]:
    """One to three dumps: whole or partial ranges, overlapping or leaving holes between them."""
    dumps = []
    count = draw(st.integers(1, 3))
    for number in range(count):
        ranges, lows = {}, {}
        for place, log in logs.items():
            size = len(log)
            if number > 0 and draw(st.booleans()):
                continue  # later dumps need not cover every partition
            start = draw(st.integers(0, size)) if count > 1 or draw(st.integers(0, 3)) == 0 else 0
            end = draw(st.integers(start, size)) if count > 1 else size
            ranges[place] = (start, end)
            lows[place] = draw(st.integers(0, start))
        if ranges:
            dumps.append(Dump(dataset=draw(st.integers(0, 1)) if number else 0, ranges=ranges, lows=lows,
                              isolation=draw(st.sampled_from([None, "read_committed", "read_uncommitted"])),
                              end_fixed_at=draw(st.sampled_from([None, 0, 5_000, 60_000]))))
    return dumps


def separate_overlaps(dumps: list[Dump]) -> None:
    """Dumps in one directory never overlap (a dump reads only what its directory lacks): move an
    overlapping or same-range dump to a directory of its own."""
    for index, dump in enumerate(dumps):
        for other in dumps[:index]:
            if other.dataset == dump.dataset and any(
                    place in other.ranges and dump.ranges[place][0] < other.ranges[place][1]
                    and other.ranges[place][0] < dump.ranges[place][1] or place in other.ranges
                    and dump.ranges[place] == other.ranges[place] for place in dump.ranges):
                dump.dataset = max(d.dataset for d in dumps) + 1
                break


@st.composite
def scenarios(draw) -> Scenario:
    topics = [f"t{n}" for n in range(draw(st.integers(1, 3)))]
    partition_counts = {t: draw(st.integers(1, 6)) for t in topics}
    configs = {t: {"cleanup.policy": draw(st.sampled_from(["delete", "delete", "compact", "compact,delete"]))}
               for t in topics}
    logs = {}
    for topic in topics:
        logs.update(topic_log(draw, topic, partition_counts[topic], "compact" in configs[topic]["cleanup.policy"]))
    rule_topics = draw(st.booleans())
    if rule_topics:  # the rules' topics: requests, acknowledgements, bursts, growing documents
        for topic in RULE_TOPICS:
            partition_counts[topic] = draw(st.integers(1, 3))
            configs[topic] = {"cleanup.policy": "delete"}
        logs.update(rule_logs(draw, partition_counts))
    dumps = dumps_of(draw, logs)
    separate_overlaps(dumps)
    mappings = {}
    for topic in topics:
        options = {"event_id": "$.id", "sequence": "$.seq", "event_time": "$.ts", "entity": "$.user",
                   "event_type": "$.type"}
        mappings[topic] = {name: source for name, source in options.items() if draw(st.booleans())}
    transactional = {t: draw(st.booleans()) for t in topics if draw(st.integers(0, 3)) == 0}
    if rule_topics:
        for topic in RULE_TOPICS:
            mappings[topic] = {"event_type": "$.type", **{name: source for name, source in
                               {"event_id": "$.id", "event_time": "$.ts", "entity": "$.user"}.items() if draw(st.booleans())}}
    params = {
        "duplicate": {"burst_min": draw(st.sampled_from([3, 10])), "burst_window_ms": draw(st.sampled_from([200, 60000]))},
        "sequence_gap": {"unseen_ms": draw(st.sampled_from([0, 10000, 60000]))},
        "silence": {"factor": draw(st.sampled_from([3, 20])), "min_events": draw(st.sampled_from([3, 20])),
                    "min_ms": draw(st.sampled_from([0, 1000]))},
        "out_of_order": {"tolerance_ms": draw(st.sampled_from([0, 500]))},
        "partitioner": {"min_fit": draw(st.sampled_from([0.99, 0.8]))},
        "partition_count_change": {"min_records": draw(st.sampled_from([3, 20]))},
    }
    params["size"] = {"max_bytes": draw(st.sampled_from([100, 150, 524288])),
                      "growth_factor": draw(st.sampled_from([2, 10])), "min_versions": draw(st.sampled_from([2, 3, 10]))}
    return Scenario("synthetic", partition_counts, configs, logs, dumps, mappings, transactional, params,
                    rule_tables(draw, topics))


# --- the rules' data and definitions (docs/rules.md) ---------------------------------------------

RULE_TOPICS = ("req", "ack")
CUSTOM_QUERY = "SELECT topic, partition, key, [\"offset\"] AS offsets FROM events WHERE event_type = 'retry'"


def rule_logs(draw, partition_counts: dict[str, int]) -> dict[tuple[str, int], list[dict | None]]:
    """Requests (topic `req`) and their acknowledgements (topic `ack`, same trace, `cause` = the
    request's id) told as stories: in time, late, missing, repeated, orphaned, retried; bursts of
    pings and documents that grow (in `req`). Broker times follow the stories; event times lag them
    by 0 or 300 ms."""
    entries = []  # (broker ms, topic, entity, type, trace, extra value fields)
    now = BASE_MS
    for story_number in range(draw(st.integers(0, 20))):
        now += draw(st.sampled_from([0, 1, 50, 400, 1000, 5000]))
        story = draw(st.sampled_from(["ok", "ok", "late", "missing", "repeated", "orphan", "retry", "burst", "grow"]))
        entity = draw(st.integers(0, 3))
        trace = f"{0xabc00000 + story_number:032x}"
        cause = f"r{story_number}"
        if story == "burst":
            moment = now
            for _ in range(draw(st.integers(2, 8))):
                moment += draw(st.sampled_from([0, 1, 5, 30]))
                entries.append((moment, "req", entity, "ping", trace, {}))
            continue
        if story == "grow":
            pad = draw(st.integers(1, 20))
            for version in range(draw(st.integers(2, 8))):
                entries.append((now + 10 * version, "req", entity, "doc", trace, {"pad": "x" * (pad << version)}))
            continue
        if story != "orphan":
            entries.append((now, "req", entity, "req", trace, {"id": cause}))
        if story == "retry":
            entries.append((now + 5, "req", entity, "req", trace, {"id": cause}))
        delays = {"ok": [draw(st.sampled_from([0, 10, 90, 900]))], "late": [draw(st.sampled_from([1500, 20_000]))],
                  "missing": [], "repeated": [10, draw(st.sampled_from([20, 3000]))], "orphan": [10], "retry": [50]}[story]
        for delay in delays:
            entries.append((now + delay, "ack", entity, "ack", trace, {"cause": cause}))
    logs: dict[tuple[str, int], list[dict | None]] = {(t, p): [] for t in RULE_TOPICS for p in range(partition_counts[t])}
    for number, (moment, topic, entity, kind, trace, extra) in enumerate(sorted(entries, key=lambda e: e[0])):
        key = f"u{entity}".encode()
        count = partition_counts[topic]
        partition = confluent_kafka.murmur2(key, count) if draw(st.booleans()) else draw(st.integers(0, count - 1))
        event_ms = moment - draw(st.sampled_from([0, 0, 0, 300]))
        value = {"id": f"{topic}-{number}", "seq": number, "ts": event_ms, "type": kind, "user": f"u{entity}", **extra}
        row = {"topic": topic, "timestamp": moment, "key": key, "value": json.dumps(value).encode(),
               "headers": [("traceparent", f"00-{trace}-{number:016x}-01".encode())]}
        log = logs[(topic, partition)]
        log.append({**row, "partition": partition, "offset": len(log)})
    return logs


def rule_tables(draw, topics: list[str]) -> dict[str, dict[str, dict]]:
    """Rate, flow and custom rules over the rules' topics and the first ordinary topic."""
    first = topics[0]
    rates = {
        "pings": {"topic": "req", "per": draw(st.sampled_from(["entity", "key", "partition", "topic", "$.user", "trace_id"])),
                  "max": draw(st.sampled_from([1, 2, 4])), "window": draw(st.sampled_from(["10ms", "100ms", "1s"]))},
        "busy": {"topic": first, "per": draw(st.sampled_from(["key", "entity", "partition"])),
                 "max": draw(st.sampled_from([2, 5])), "window": draw(st.sampled_from(["1ms", "10ms", "1s"]))},
    }
    where = draw(st.sampled_from([None, "ping", "event_type IN ('req', 'ping')"]))
    if where:
        rates["pings"]["where"] = where
    where = draw(st.sampled_from([None, "bet", "sequence % 2 = 0"]))
    if where:
        rates["busy"]["where"] = where
    correlation = draw(st.sampled_from([{}, {"by": "trace_id"}, {"by_from": "$.id", "by_to": "$.cause"}]))
    flows = {
        "acked": {"from": "req", "from_type": "req", "to": "ack", "to_type": "ack", **correlation,
                  "within": draw(st.sampled_from(["100ms", "1s"])), "expect": draw(st.sampled_from(["one", "at_least_one"]))},
        "retried": {"from": first, "from_type": "bet", "to": first, "to_type": "retry", "by": "$.id",
                    "within": draw(st.sampled_from(["10ms", "5s"])), "expect": draw(st.sampled_from(["one", "at_least_one"]))},
    }
    if draw(st.booleans()):
        flows["retried"]["from_where"] = "value_size > 100"
    custom = {"retries": {"query": CUSTOM_QUERY}} if draw(st.booleans()) else {}
    return {"rates": rates, "flows": flows, "rules": custom}
