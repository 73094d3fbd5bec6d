"""The reference model's rules (tests/reference/rules.py, docs/rules.md) on small hand-made streams
with exactly known findings, and on the sample incident: the sample's rules find its auth burst, its
growing account document and the re-published odds repricings, and nothing else."""
from __future__ import annotations

import json
import tomllib
from datetime import datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reference import rules
from reference.stream import DumpedRange, Finding, Record, Stream, TopicInfo

T0 = 1_700_000_000_000
DEFAULTS = {"entity": "key", "event_time": "timestamp", "trace_id": "header:traceparent"}
SAMPLE = Path(__file__).resolve().parents[2] / "data"


def value(kind: str, ts: int | None = None, **extra) -> bytes:
    return json.dumps({"type": kind, **({} if ts is None else {"ts": T0 + ts}), **extra}).encode()


def rec(partition: int, offset: int, ts: int, key: bytes | None = b"k", value: bytes | None = b"v",
        topic: str = "t", cluster: str = "c", trace: str | None = None) -> Record:
    headers = () if trace is None else (("traceparent", f"00-{trace:0>32}-{'1' * 16}-01".encode()),)
    return Record(cluster, topic, partition, offset, T0 + ts, key, value, headers)


def dumped(partition: int, start: int, end: int, topic: str = "t", fixed: int | None = None,
           high: int | None = None, cluster: str = "c") -> DumpedRange:
    return DumpedRange(cluster, "d", "r0", topic, partition, start, end, 0, None, (),
                       None if fixed is None else T0 + fixed, high)


def stream(records, ranges=None, partitions=1, fields=None, params=None, rule_tables=None, fixed=None) -> Stream:
    records = list(records)
    fixed = max((r.timestamp - T0 for r in records), default=0) if fixed is None else fixed
    places = {(r.cluster_id, r.topic) for r in records} | {(d.cluster_id, d.topic) for d in ranges or ()}
    if ranges is None:  # every partition dumped from 0 to one past its last record, fixed at `fixed` (the last record's time)
        last = {}
        for r in records:
            place = (r.cluster_id, r.topic, r.partition)
            last[place] = max(last.get(place, (-1, 0)), (r.offset, r.timestamp))
        ranges = [dumped(p, 0, offset + 1, topic=t, fixed=fixed, cluster=c) for (c, t, p), (offset, _) in last.items()]
        ranges += [dumped(p, 0, 0, topic=t, fixed=fixed, cluster=c) for c, t in places for p in range(partitions)
                   if (c, t, p) not in last]
    topics = sorted({t for _, t in places})
    return Stream(records=records, ranges=list(ranges),
                  topics=[TopicInfo(c, t, partitions, {}) for c, t in sorted(places)],
                  fields={t: {**DEFAULTS, **(fields or {})} for t in topics},
                  explicit={t: set(fields or ()) for t in topics}, params=params or {}, rules=rule_tables or {})


def finding(check, severity, partition, key, *offsets, topic="t") -> Finding:
    return Finding(check, severity, topic, partition, key, tuple(offsets))


# --- durations and selection ---------------------------------------------------------------------

def test_durations_are_an_integer_and_a_unit():
    assert [rules.duration_ms(d) for d in ("250ms", "1s", "5m", "2h", "1d")] == [250, 1000, 300_000, 7_200_000, 86_400_000]
    for bad in ("1 s", "1.5s", "1", "s", "-1s", "1w"):
        with pytest.raises(ValueError):
            rules.duration_ms(bad)


def test_a_single_word_where_is_an_event_type_anything_else_a_known_sql_condition():
    s = stream([rec(0, 0, 0, value=value("login_failed", sequence=2))], fields={"event_type": "$.type", "sequence": "$.sequence"})
    event = rules.derive_events(s)[0]
    assert rules.selected(event, "login_failed") and not rules.selected(event, "login_succeeded")
    assert rules.selected(event, ["a", "login_failed"]) and rules.selected(event, None)
    assert rules.selected(event, "sequence % 2 = 0")
    with pytest.raises(rules.Unmodelled):
        rules.selected(event, "sequence > 1")


# --- rate ----------------------------------------------------------------------------------------

def rate_stream(times, per="key", limit=2, window="1s", partitions=None, keys=None, where=None, **kw):
    records = [rec((partitions or [0] * len(times))[i], i, t, key=(keys or [b"k"] * len(times))[i],
                   value=value("x")) for i, t in enumerate(times)]
    table = {"topic": "t", "per": per, "max": limit, "window": window, **({"where": where} if where else {})}
    return stream(records, partitions=4, rule_tables={"rates": {"r": table}}, fields={"event_type": "$.type"}, **kw)


def test_a_burst_straddling_two_clock_buckets_is_counted_whole():
    # 3 events in [900, 1100): no clock-aligned second holds more than 2, the window at 900 holds 3
    assert rules.rate(rate_stream([0, 900, 1000, 1099, 5000])) == {finding("rate", "warning", 0, b"k", 1, 3)}


def test_the_window_is_half_open_and_max_itself_is_allowed():
    assert rules.rate(rate_stream([0, 500, 1000])) == set()      # [0, 1000) holds 2: not more than 2
    assert rules.rate(rate_stream([0, 500, 999])) == {finding("rate", "warning", 0, b"k", 0, 2)}


def test_the_worst_window_wins_and_the_earliest_on_a_tie_and_events_at_the_same_time_all_count():
    times = [0, 10, 20, 5000, 5000, 5000, 5001, 9000, 9001, 9002, 9003]
    assert rules.rate(rate_stream(times)) == {finding("rate", "warning", 0, b"k", 3, 6)}
    # two partitions: the window's partition is null, its offsets the first and last in (time, partition, offset) order
    parts = [1, 0, 1]
    assert rules.rate(rate_stream([7, 7, 8], partitions=parts)) == {finding("rate", "warning", None, b"k", 1, 2)}
    assert rules.rate_windows([0, 10, 20, 5000, 5000, 5000, 5001, 9000, 9001, 9002, 9003], 1000, 2) == (6, 3, 4)


def test_rate_groups_per_key_entity_partition_topic_and_where_selects():
    keys = [b"a", b"b", b"a", b"b", b"a"]
    parts = [0, 1, 0, 1, 2]
    times = [0, 1, 2, 3, 4]
    assert rules.rate(rate_stream(times, keys=keys, partitions=parts)) == {finding("rate", "warning", None, b"a", 0, 4)}
    assert rules.rate(rate_stream(times, per="partition", limit=1, keys=keys, partitions=parts)) == {
        finding("rate", "warning", 0, None, 0, 2), finding("rate", "warning", 1, None, 1, 3)}
    assert rules.rate(rate_stream(times, per="topic", limit=4, keys=keys, partitions=parts)) == {
        finding("rate", "warning", None, None, 0, 4)}
    assert rules.rate(rate_stream(times, per="entity", limit=2, keys=keys, partitions=parts)) == {
        finding("rate", "warning", None, b"a", 0, 4)}
    assert rules.rate(rate_stream(times, where="y")) == set()


def test_null_group_values_are_in_no_group():
    assert rules.rate(rate_stream([0, 1, 2, 3], keys=[None] * 4)) == set()


# --- size ----------------------------------------------------------------------------------------

def test_a_document_that_grows_by_the_factor_over_enough_versions_is_reported_once_per_key():
    sizes = [10, 20, 40, 80, 100]
    records = [rec(0, i, i * 10, value=b"x" * n) for i, n in enumerate(sizes)]
    records += [rec(1, i, i * 10, key=b"flat", value=b"x" * 50) for i in range(5)]
    records.append(rec(0, 5, 60, value=None))  # a tombstone is no version
    params = {"size": {"growth_factor": 10, "min_versions": 5}}
    assert rules.size(stream(records, partitions=2, params=params)) == {finding("size", "warning", 0, b"k", 0, 4)}
    assert rules.size(stream(records, partitions=2, params={"size": {"growth_factor": 10, "min_versions": 6}})) == set()
    assert rules.size(stream(records, partitions=2, params={"size": {"growth_factor": 11, "min_versions": 5}})) == set()


def test_growth_is_measured_from_first_to_last_version_in_time_order_across_partitions():
    records = [rec(0, 0, 0, value=b"x" * 100), rec(1, 0, 10, value=b"x" * 5), rec(0, 1, 20, value=b"x" * 60)]
    params = {"size": {"growth_factor": 0.5, "min_versions": 2}}
    assert rules.size(stream(records, partitions=2, params=params)) == {finding("size", "warning", None, b"k", 0, 1)}


def test_an_empty_first_version_counts_as_one_byte():
    records = [rec(0, 0, 0, value=b""), rec(0, 1, 1, value=b"x" * 10)]
    assert rules.size(stream(records, params={"size": {"growth_factor": 10, "min_versions": 2}})) == {
        finding("size", "warning", 0, b"k", 0, 1)}


def test_values_over_max_bytes_give_one_finding_per_key_at_the_largest():
    records = [rec(0, 0, 0, value=b"x" * 30), rec(1, 0, 1, value=b"x" * 40), rec(0, 1, 2, value=b"x" * 40),
               rec(0, 2, 3, key=None, value=b"x" * 31), rec(0, 3, 4, key=b"small", value=b"x" * 29)]
    params = {"size": {"max_bytes": 29, "min_versions": 1000}}
    assert rules.size(stream(records, partitions=2, params=params)) == {
        finding("size", "warning", None, b"k", 0), finding("size", "warning", 0, None, 2)}


# --- flow ----------------------------------------------------------------------------------------

def K(trace: str) -> bytes:
    """The trace id of traceparent 00-<trace, padded to 32 hex>-...: the correlation value."""
    return f"{trace:0>32}".encode()


FLOW = {"from": "a", "from_type": "req", "to": "b", "to_type": "ack", "within": "1s"}


def ev(topic, partition, offset, ts, kind, trace, **kw):
    return rec(partition, offset, ts, topic=topic, value=value(kind), trace=trace, **kw)


def flow(records, table=None, **kw):
    return rules.flow(stream(records, fields={"event_type": "$.type"},
                             rule_tables={"flows": {"f": {**FLOW, **(table or {})}}}, **kw))


def test_missing_pending_late_and_in_time():
    records = [ev("a", 0, 0, 0, "req", "1"), ev("b", 0, 0, 500, "ack", "1"),       # in time
               ev("a", 0, 1, 100, "req", "2"), ev("b", 0, 1, 2000, "ack", "2"),    # late
               ev("a", 0, 2, 200, "req", "3"),                                       # missing: b covered to 9000
               ev("a", 0, 3, 8500, "req", "4"),                                      # pending: window to 9500
               ev("b", 0, 2, 9000, "ack", "e")]                                      # an orphan
    assert flow(records) == {
        finding("flow", "warning", 0, K("2"), 1, 1, topic="a"), finding("flow", "error", 0, K("3"), 2, topic="a"),
        finding("flow", "info", 0, K("4"), 3, topic="a"), finding("flow", "warning", 0, K("e"), 2, topic="b")}


def test_the_window_is_closed_and_an_effect_before_its_cause_is_none_of_its():
    records = [ev("a", 0, 0, 1000, "req", "1"), ev("b", 0, 0, 2000, "ack", "1"),     # exactly at within: in time
               ev("a", 0, 1, 1000, "req", "2"), ev("b", 0, 1, 999, "ack", "2"),      # before: orphan + missing
               ev("b", 0, 2, 5000, "ack", "f")]
    assert flow(records) == {finding("flow", "error", 0, K("2"), 1, topic="a"), finding("flow", "warning", 0, K("2"), 1, topic="b"),
                             finding("flow", "warning", 0, K("f"), 2, topic="b")}


def test_expect_one_reports_every_effect_of_a_repeated_cause_and_late_repeated_gives_two_findings():
    records = [ev("a", 0, 0, 0, "req", "1"), ev("b", 0, 0, 10, "ack", "1"), ev("b", 1, 0, 20, "ack", "1"),
               ev("a", 0, 1, 0, "req", "2"), ev("b", 0, 1, 3000, "ack", "2"), ev("b", 0, 2, 3001, "ack", "2"),
               ev("b", 0, 3, 9000, "ack", "ee")]
    found = flow(records, {"expect": "one"}, partitions=2)
    assert found == {finding("flow", "warning", 0, K("1"), 0, 0, 0, topic="a"),
                     finding("flow", "warning", 0, K("2"), 1, 1, topic="a"), finding("flow", "warning", 0, K("2"), 1, 1, 2, topic="a"),
                     finding("flow", "warning", 0, K("ee"), 3, topic="b")}
    assert finding("flow", "warning", 0, K("1"), 0, 0, 0, topic="a") not in flow(records, partitions=2)


def test_two_causes_share_an_effect():
    records = [ev("a", 0, 0, 0, "req", "1"), ev("a", 0, 1, 5, "req", "1"), ev("b", 0, 0, 10, "ack", "1"),
               ev("b", 0, 1, 9000, "ack", "d")]
    assert flow(records, {"expect": "one"}) == {finding("flow", "warning", 0, K("d"), 1, topic="b")}


def test_coverage_needs_every_partition_of_the_effect_topic_through_the_window():
    records = [ev("a", 0, 0, 0, "req", "1"), ev("b", 0, 0, 5000, "ack", "e")]
    # b/1 was dumped but fixed at 500: the window [0, 1000] runs past it -> pending
    ranges = [dumped(0, 0, 1, "a", fixed=9000), dumped(0, 0, 1, "b", fixed=9000), dumped(1, 0, 0, "b", fixed=500)]
    assert finding("flow", "info", 0, K("1"), 0, topic="a") in flow(records, ranges=ranges, partitions=2)
    ranges[-1] = dumped(1, 0, 0, "b", fixed=1000)
    assert finding("flow", "error", 0, K("1"), 0, topic="a") in flow(records, ranges=ranges, partitions=2)
    ranges.pop()  # b/1 not dumped at all
    assert finding("flow", "info", 0, K("1"), 0, topic="a") in flow(records, ranges=ranges, partitions=2)


def test_a_range_not_from_offset_zero_covers_from_its_first_record_and_to_its_fix_only_at_the_log_end():
    records = [ev("a", 0, 5, 0, "req", "1"), ev("b", 0, 7, 300, "ack", "ab")]
    s = stream(records, ranges=[dumped(0, 5, 6, "a", fixed=9000), dumped(0, 7, 8, "b", fixed=9000)])
    intervals = rules.range_intervals(s)
    assert intervals[("c", "b", 0)] == [(T0 + 300, T0 + 9000)]
    assert not rules.covers(s, intervals, "b", None, T0, T0 + 1000)            # b covered from 300 only
    assert rules.covers(s, intervals, "b", None, T0 + 300, T0 + 1300)
    s = stream(records, ranges=[dumped(0, 5, 6, "a", fixed=9000), dumped(0, 7, 8, "b", fixed=9000, high=20)])
    assert rules.range_intervals(s)[("c", "b", 0)] == [(T0 + 300, T0 + 300)]  # ended before the log end: to its last record
    s = stream(records, ranges=[dumped(0, 5, 6, "a", fixed=9000), dumped(0, 9, 9, "b", fixed=9000)])
    assert ("c", "b", 0) not in rules.range_intervals(s)                    # empty, not from 0: nothing


def test_intervals_of_several_dumps_are_merged_where_they_touch():
    records = [ev("b", 0, 0, 0, "ack", "1"), ev("b", 0, 5, 4000, "ack", "2"), ev("b", 0, 9, 8001, "ack", "3"),
               ev("b", 0, 12, 9500, "ack", "4")]
    ranges = [dumped(0, 0, 5, "b", fixed=4000), dumped(0, 5, 9, "b", fixed=8000), dumped(0, 9, 10, "b", fixed=9000),
              dumped(0, 12, 13, "b", fixed=9900)]
    s = stream(records, ranges=ranges)
    assert rules.range_intervals(s)[("c", "b", 0)] == [(float("-inf"), T0 + 9000), (T0 + 9500, T0 + 9900)]


def test_orphans_only_where_the_cause_topic_is_covered_before_them():
    records = [ev("a", 0, 3, 2000, "req", "1"), ev("b", 0, 0, 1500, "ack", "c1"), ev("b", 0, 1, 3500, "ack", "c2"),
               ev("b", 0, 2, 2500, "ack", "1")]
    ranges = [dumped(0, 3, 4, "a", fixed=9000), dumped(0, 0, 3, "b", fixed=9000)]
    # a is covered from 2000: o1 at 1500 is not judged; o2 at 3500 needs [2500, 3500]: covered
    assert flow(records, ranges=ranges) == {finding("flow", "warning", 0, K("c2"), 1, topic="b")}


def test_by_from_and_by_to_and_clusters_reconcile_a_mirror():
    table = {"from": "t", "to": "t", "from_type": None, "to_type": None, "by": "event_id", "from_cluster": "src",
             "to_cluster": "dst", "expect": "one"}
    records = [rec(0, 0, 0, value=b'{"id": "e1"}', cluster="src"), rec(0, 1, 10, value=b'{"id": "e2"}', cluster="src"),
               rec(0, 0, 50, value=b'{"id": "e1"}', cluster="dst"), rec(0, 1, 60, value=b'{"id": "e1"}', cluster="dst"),
               rec(0, 2, 70, value=b'{"id": "e3"}', cluster="dst")]
    s = stream(records, fields={"event_id": "$.id"}, rule_tables={"flows": {"mirror": {**FLOW, **table}}}, fixed=5000)
    assert rules.flow(s) == {finding("flow", "warning", 0, b"e1", 0, 0, 1), finding("flow", "error", 0, b"e2", 1),
                             finding("flow", "warning", 0, b"e3", 2)}
    table = {**FLOW, "from": "a", "to": "b", "by_from": "$.bet", "by_to": "key", "from_type": None, "to_type": None}
    records = [rec(0, 0, 0, topic="a", value=b'{"bet": "b1"}'), rec(0, 0, 5, topic="b", key=b"b1")]
    assert rules.flow(stream(records, rule_tables={"flows": {"f": table}})) == set()


# --- custom SQL ----------------------------------------------------------------------------------

def test_a_known_custom_query_gives_its_findings_and_an_unknown_one_is_unmodelled():
    query = next(iter(rules.QUERIES))
    records = [rec(0, 0, 0, value=value("retry")), rec(0, 1, 1, value=value("bet"))]
    s = stream(records, fields={"event_type": "$.type"}, rule_tables={"rules": {"retries": {"query": query}}})
    assert rules.custom(s) == {finding("custom", "warning", 0, b"k", 0)}
    s.rules["rules"]["retries"] = {"query": "SELECT 1"}
    with pytest.raises(rules.Unmodelled):
        rules.custom(s)


# --- the sample incident -------------------------------------------------------------------------

SAMPLE_RULES = """
[rates.login_attempts]          # nobody makes more than 5 login attempts a second
topic = "auth-attempts"
per = "entity"
max = 5
window = "1s"

[flows.bet_settled]             # every bet placed is settled within two minutes
from = "bets"
from_type = "bet_placed"
to = "bets"
to_type = "bet_settled"
within = "2m"

[flows.wallet_updated]          # every bet placed updates the wallet once, within a second
from = "bets"
from_type = "bet_placed"
to = "accounts"
to_type = "account_updated"
within = "1s"
expect = "one"

[flows.goal_repriced]           # every goal reprices its match's odds once, within a second
from = "match-events"
from_type = "goal"
to = "odds-updates"
to_type = "odds_repriced"
within = "1s"
expect = "one"
"""


def iso_ms(text: str) -> int:
    return round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def sample_stream() -> Stream:
    """data/sports-betting as the model sees it, read with pyarrow, with data/sports-betting.toml's
    fields and (until the config holds them) SAMPLE_RULES."""
    root = SAMPLE / "sports-betting"
    config = tomllib.loads((SAMPLE / "sports-betting.toml").read_text())
    tables = {kind: config.get(kind) or tomllib.loads(SAMPLE_RULES).get(kind, {}) for kind in ("rates", "flows")}
    records, ranges, topics = [], [], []
    for path in sorted((root / "_evkit" / "runs").glob("*.json")):
        manifest = json.loads(path.read_text())
        cluster = manifest["cluster_id"]
        topics += [TopicInfo(cluster, t, d["partition_count"], d.get("configs", {})) for t, d in manifest["topics"].items()]
        for part in manifest["partitions"]:
            ranges.append(DumpedRange(cluster, "sports-betting", manifest["run_id"], part["topic"], part["partition"],
                                      part["start"], part["end"], part["watermarks_start"]["low"], manifest["isolation"],
                                      tuple(map(tuple, part["skipped"])), iso_ms(part["end_fixed_at"]),
                                      part["watermarks_start"]["high"]))
            for file in part["files"]:
                for row in pq.read_table(root / file["path"]).to_pylist():
                    records.append(Record(cluster, row["topic"], row["partition"], row["offset"],
                                          round(row["timestamp"].timestamp() * 1000), row["key"], row["value"],
                                          tuple((h["key"], h["value"]) for h in row["headers"]), row["timestamp_type"]))
    fields = {**DEFAULTS, **config.get("defaults", {})}
    return Stream(records=records, ranges=ranges, topics=topics, fields={t.topic: fields for t in topics},
                  params=config.get("checks", {}), rules=tables)


def test_the_sample_rules_find_the_auth_burst_the_growing_document_and_the_repeated_repricings_only():
    s = sample_stream()
    found = {name: check(s) for name, check in rules.RULES.items()}
    # auth_burst: user 1337's 400 failed logins in 40 s, 10 a second at worst (auth-attempts/0 offsets 148-626)
    [burst] = found["rate"]
    assert burst[:5] == ("rate", "warning", "auth-attempts", 0, b"1337") and 148 <= burst.offsets[0] < burst.offsets[1] <= 626
    # growing_document: user 1100's account, accounts/1, from its first to its last version
    [growing] = found["size"]
    assert growing[:5] == ("size", "warning", "accounts", 1, b"1100")
    # republished_range: two odds_repriced records re-sent with the range, so two goals are repriced twice
    assert sorted((f.severity, f.topic, f.partition, len(f.offsets)) for f in found["flow"]) == [
        ("warning", "match-events", p, 3) for p in sorted(f.partition for f in found["flow"])]
    assert len(found["flow"]) == 2
    assert found["custom"] == set()


# --- the generated scenarios of the differential test --------------------------------------------

def model_stream(scenario) -> Stream:
    """The scenario as the model sees it, each dump fixed as write_records fixes it (its latest
    record plus the drawn delay)."""
    moments = {}
    for number, dump in enumerate(scenario.dumps):
        latest = max((row["timestamp"] for row in scenario.dumped_rows(dump)), default=BASE_MS)
        moments[number] = latest + (dump.end_fixed_at or 0)
    return scenario.stream(moments)


def kinds(found: set[Finding], flows: dict) -> set[str]:
    names = set()
    to_topics = {table["to"] for table in flows.values()}
    for f in found:
        if f.check != "flow":
            names.add(f.check)
        elif f.severity != "warning":
            names.add({"error": "missing", "info": "pending"}[f.severity])
        else:
            names.add("repeated" if len(f.offsets) > 2 else "late" if len(f.offsets) == 2
                      else "orphan" if f.topic in to_topics else "?")
    return names


def test_generated_scenarios_are_modelled_and_trigger_every_rule_finding():
    from hypothesis import HealthCheck, given, settings

    from reference.generate import BASE_MS as base, CUSTOM_QUERY, scenarios
    assert base == BASE_MS and CUSTOM_QUERY in rules.QUERIES
    seen: set[str] = set()

    @settings(max_examples=120, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(scenarios())
    def collect(scenario):
        if scenario.dumps:
            s = model_stream(scenario)
            seen.update(kinds(set().union(*(check(s) for check in rules.RULES.values())), s.rules.get("flows", {})))

    collect()
    assert seen == {"rate", "size", "custom", "missing", "pending", "late", "repeated", "orphan"}


BASE_MS = 1_700_000_000_000
