"""Causes (docs/causes.md): the grouping on the sample incident's findings as `evkit check` makes
them (with their facts), on hand-made findings, and the differential test against the reference
model (tests/reference/causes.py) on the sample and on random findings."""
from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from reference import causes as reference

from evkit import check
from evkit.analysis import causes
from evkit.sample.synth import synth

from support import REPO


# The checks of docs/analysis.md and docs/partitioners.md (the rules of docs/rules.md add findings of
# their own: test_rules_findings_join_their_incidents_causes).
CHECKS = ["field_coverage", "duplicate", "offset_gap", "sequence_gap", "sequence_regression", "silence",
          "out_of_order", "split_key", "partitioner", "key_encoding", "partition_count_change"]


def sample_report(checks=CHECKS):
    return check(REPO / "data" / "sports-betting", config=REPO / "data" / "sports-betting.toml", checks=checks,
                 quiet=True)


@pytest.fixture(scope="module")
def sample():
    """The sample's findings with their facts, without their cause ids (as the checks make them)."""
    report = sample_report()
    return [{k: v for k, v in f.items() if k != "cause"} for f in report.findings]


def without_facts(findings):
    return [{k: v for k, v in f.items() if k != "facts"} for f in findings]


INCIDENT_OF_KIND = {  # the sample's incidents with findings today, by the cause they should give
    "republication": "republished_range", "lost_events": "lost_events", "late_events": "late_events",
    "partitioner": "foreign_partitioner", "key_encoding": "int_keys", "silence": "auth_burst",
}


def by_kind(cs):
    return Counter(c["kind"] for c in cs)


def test_sample_with_facts_one_cause_per_incident(sample):
    findings, cs = causes.group(sample)
    assert len(findings) == len(sample) == 1177
    assert by_kind(cs) == Counter(INCIDENT_OF_KIND.keys())  # one cause per incident that has findings today
    got = {c["kind"]: c for c in cs}
    assert got["republication"]["findings"] == {"duplicate": 121, "out_of_order": 120, "sequence_regression": 2}
    assert got["republication"]["summary"] == "odds-updates/2: offsets 735–854 re-publish 595–714 (120 records, 20.6 s later)"
    assert got["partitioner"]["findings"] == {"partitioner": 3, "split_key": 340, "out_of_order": 340}
    assert got["partitioner"]["summary"] == (
        "bets: producer settlement-service places keys with Sarama's FNV-1a hash while bet-service and "
        "cashout-service use Java murmur2: 340 keys on two partitions, 340 entities' order across partitions lost")
    assert got["partitioner"]["producers"] == ["bet-service", "cashout-service", "settlement-service"]
    assert got["key_encoding"]["findings"] == {"key_encoding": 207, "out_of_order": 29}
    assert got["key_encoding"]["summary"] == (
        "bets: producer cashout-service writes keys as 4-byte big-endian integers where others write UTF-8 text: "
        "207 keys written both ways, 29 more entities split over partitions")
    assert got["late_events"]["findings"] == {"out_of_order": 5, "sequence_regression": 5}
    assert got["late_events"]["summary"] == (
        "match-events: 5 events of 5 entities from producer scout-feed arrived 50–76 s late (partitions 0, 1, 2; "
        "5 sequence regressions), 19:06:45–19:13:49")
    assert got["late_events"]["producers"] == ["scout-feed"] and got["republication"]["producers"] == ["odds-engine"]
    assert got["lost_events"]["summary"] == (
        "bets: 4 events lost: entities 1020 seq 3, 1321 seq 5, 1048 seq 9, 1292 seq 9 (later events exist), "
        "19:03:00–19:13:50")
    assert got["silence"]["summary"] == "auth-attempts/0: entity 1337 silent for 264 s (347× its usual interval)"
    # worst first: the two errors, then by number of findings
    assert [c["kind"] for c in cs] == ["partitioner", "lost_events", "republication", "key_encoding",
                                       "late_events", "silence"]


def test_sample_without_facts(sample):
    """Findings without facts (an older evkit's JSON): the burst is not recognised, so the
    re-published range is two causes (its duplicates, and its copies' regressions in time)."""
    findings, cs = causes.group(without_facts(sample))
    assert all("cause" in f for f in findings)
    assert by_kind(cs) == Counter({"partitioner": 1, "lost_events": 1, "key_encoding": 1, "late_events": 2,
                                   "duplicate": 1, "silence": 1})
    assert sum(c["total"] for c in cs) == len(sample)


def test_every_finding_has_exactly_one_existing_cause(sample):
    findings, cs = causes.group(sample)
    ids = [c["id"] for c in cs]
    assert len(ids) == len(set(ids))
    assert Counter(f["cause"] for f in findings) == {c["id"]: c["total"] for c in cs}
    for f, original in zip(findings, sample):
        assert {k: v for k, v in f.items() if k != "cause"} == original


def test_ids_do_not_depend_on_order(sample):
    withfacts = sample
    a_findings, a = causes.group(withfacts)
    shuffled = list(withfacts)
    random.Random(3).shuffle(shuffled)
    b_findings, b = causes.group(shuffled)
    assert a == b
    assign_a = {json.dumps(causes.identity(f), default=list): f["cause"] for f in a_findings}
    assign_b = {json.dumps(causes.identity(f), default=list): f["cause"] for f in b_findings}
    assert assign_a == assign_b


def test_no_findings_no_causes():
    assert causes.group([]) == ([], [])


# --- hand-made findings ------------------------------------------------------------------------


def F(check, severity="warning", topic="t", partition=None, key=None, offsets=(), first="2026-01-01T10:00:00.000Z",
      last=None, **fx):
    f = {"check": check, "severity": severity, "topic": topic, "partition": partition, "key": key,
         "offsets": list(offsets), "event_ids": [], "first_ts": first, "last_ts": last or first, "detail": "…"}
    if fx:
        f["facts"] = fx
    return f


def kinds(findings):
    _, cs = causes.group(findings)
    return sorted((c["kind"], c["total"]) for c in cs)


def test_burst_absorbs_its_copies_regressions_and_late_copies_only_inside():
    burst = F("duplicate", partition=2, offsets=range(100, 110), kind="burst",
              copies={"partition": 2, "first": 100, "last": 109, "records": 10},
              originals=[{"partition": 1, "first": 50, "last": 59}], delay_ms=30_000)
    dups = [F("duplicate", partition=None, offsets=[50 + i, 100 + i], kind="logical",
              positions=[[1, 50 + i], [2, 100 + i]]) for i in range(10)]
    inside = F("out_of_order", partition=2, key="k", offsets=[105])
    regression = F("sequence_regression", partition=2, key="k", offsets=[99, 100])
    outside = F("out_of_order", partition=2, key="k", offsets=[110])
    other_partition = F("out_of_order", partition=3, key="k", offsets=[105])
    # issue 14's flow: a goal in another topic repriced twice, the second repricing being a copy
    repeated = F("flow", topic="m", partition=0, key="trace", offsets=[7, 55, 105], rule="goal_repriced",
                 kind="repeated", effects=[["t", 1, 55], ["t", 2, 105]])
    elsewhere = F("flow", topic="m", partition=0, key="trace2", offsets=[8, 56, 120], rule="goal_repriced",
                  kind="repeated", effects=[["t", 1, 56], ["t", 2, 120]])
    findings, cs = causes.group([burst, *dups, inside, regression, repeated, elsewhere, outside, other_partition])
    rep = next(c for c in cs if c["kind"] == "republication")
    assert rep["findings"] == {"duplicate": 11, "flow": 1, "out_of_order": 1, "sequence_regression": 1}
    assert rep["topics"] == ["m", "t"]
    assert rep["summary"] == "t/2: offsets 100–109 re-publish 1:50–59 (10 records, 30 s later)"
    assert rep["partitions"] == {"m": [0], "t": [1, 2]}
    assert findings[-2]["cause"] != rep["id"] and findings[-1]["cause"] != rep["id"]


def test_partitioner_takes_only_split_keys_its_producers_explain():
    p = [F("partitioner", topic="b", producer="a", verdict=["java_murmur2"], records=10),
         F("partitioner", topic="b", producer="c", verdict=["java_murmur2"], records=10),
         F("partitioner", topic="b", producer="x", verdict=["sarama_hash", "librdkafka_fnv1a"], records=30)]
    explained = F("split_key", "error", topic="b", key="k1",
                  partitions=[{"partition": 0, "producers": ["a"]}, {"partition": 3, "producers": ["x"]}])
    not_explained = F("split_key", "error", topic="b", key="k2",
                      partitions=[{"partition": 0, "producers": ["a"]}, {"partition": 3, "producers": ["c"]}])
    entity = F("out_of_order", topic="b", key="k1", offsets=[1, 2], scope="split", entity="u1", keys=["k1"])
    findings, cs = causes.group([*p, explained, not_explained, entity])
    part = next(c for c in cs if c["kind"] == "partitioner")
    assert part["findings"] == {"partitioner": 3, "split_key": 1, "out_of_order": 1}
    assert part["severity"] == "error"
    assert part["summary"] == ("b: producer x places keys with Sarama's FNV-1a hash while a and c use Java murmur2: "
                               "1 key on two partitions, 1 entity's order across partitions lost")
    assert ("split_key", 1) in kinds([*p, explained, not_explained, entity])


def test_key_encoding_absorbs_its_split_entities_never_a_split_key():
    ke = F("key_encoding", topic="b", key="\x00\x00\x00\x07", logical_key="7",
           encodings=[{"encoding": "utf8", "key": "7", "records": 9, "producers": ["p"]},
                      {"encoding": "int32_be", "key": "\x00\x00\x00\x07", "records": 1, "producers": ["kt"]}])
    split = F("split_key", "error", topic="b", key="\x00\x00\x00\x07")
    entity = F("out_of_order", topic="b", key="7", offsets=[1, 2], scope="split", entity="7", keys=["7"])
    unrelated = F("out_of_order", topic="b", key="8", offsets=[1, 2], scope="split", entity="8", keys=["8"])
    _, cs = causes.group([ke, split, entity, unrelated])
    c = next(c for c in cs if c["kind"] == "key_encoding")
    assert c["findings"] == {"key_encoding": 1, "out_of_order": 1}  # one key's bytes split is not an encoding's doing
    assert c["summary"].startswith("b: producer kt writes keys as 4-byte big-endian integers where others write UTF-8 text")


def RATE(first="2026-01-01T10:15:00.000Z", last="2026-01-01T10:15:00.900Z", **fx):
    """A rate finding as docs/rules.md writes it: its worst window, and the facts of the rule."""
    facts = {"rule": "login_attempts", "per": "entity", "worst": [0, 900, 10], "windows": 395, "limit": 5,
             "window_ms": 1000} | fx
    return F("rate", topic="auth", partition=0, key="1337", first=first, last=last, **facts)


def test_rate_burst_and_the_silences_it_touches_are_one_cause_a_distant_silence_is_not():
    # as in the sample: one login at 10:10:36, the burst from 10:15:00; the burst makes the usual
    # interval tiny, so the ordinary quiet before it is reported as a silence that ends where it begins
    before = F("silence", topic="auth", partition=0, key="1337", offsets=[1, 2], first="2026-01-01T10:10:36.000Z",
               last="2026-01-01T10:15:00.000Z", silent_ms=264_000)
    after = F("silence", topic="auth", partition=0, key="1337", offsets=[3, 4], first="2026-01-01T10:15:01.500Z",
              last="2026-01-01T10:17:00.000Z", silent_ms=118_500)
    distant = F("silence", topic="auth", partition=0, key="1337", offsets=[5, 6], first="2026-01-01T11:00:00.000Z",
                last="2026-01-01T11:10:00.000Z")
    other_key = F("silence", topic="auth", partition=0, key="1338", offsets=[7, 8], first="2026-01-01T10:15:00.100Z",
                  last="2026-01-01T10:16:00.000Z")
    _, cs = causes.group([RATE(), before, after, distant, other_key])
    assert sorted((c["kind"], c["total"]) for c in cs) == [("rate_burst", 3), ("silence", 1), ("silence", 1)]
    c = next(c for c in cs if c["kind"] == "rate_burst")
    assert c["summary"] == ("auth/0: entity 1337: 10 events in 1 s at 10:15:00 where login_attempts allows 5, "
                            "395 windows over the limit, after 264 s of silence, then silent for 118 s")


def test_rate_summary_names_the_group_and_falls_back_without_facts():
    per_ip = RATE(per="$.ip", windows=1)
    per_ip["key"] = "10.0.0.7"
    partition = RATE(per="partition")
    partition["key"] = None
    bare = RATE()
    del bare["facts"]
    summaries = [causes.group([f])[1][0]["summary"] for f in (per_ip, partition, bare)]
    assert summaries == [
        "auth/0: ip 10.0.0.7: 10 events in 1 s at 10:15:00 where login_attempts allows 5, 1 window over the limit",
        "auth/0: partition 0: 10 events in 1 s at 10:15:00 where login_attempts allows 5, 395 windows over the limit",
        "auth/0: entity 1337: a burst of events in 0.9 s from 10:15:00"]


def test_growing_value_one_cause_per_document():
    grow = F("size", topic="accounts", partition=1, key="1100", offsets=[3, 900], kind="growing",
             first_bytes=277, last_bytes=23115, largest_bytes=23115, factor=83.4477, versions=365,
             first="2026-01-01T10:00:00.000Z", last="2026-01-01T10:20:00.000Z")
    large = F("size", topic="accounts", partition=1, key="1100", offsets=[900], kind="too_large", largest_bytes=23115)
    other = F("size", topic="accounts", partition=2, key="1200", offsets=[5, 800], kind="too_large", largest_bytes=9000)
    _, cs = causes.group([grow, large, other])
    assert sorted((c["kind"], c["total"], c["summary"]) for c in cs) == [
        ("growing_value", 1, "accounts/2: values of key 1200 reach 9,000 bytes"),
        ("growing_value", 2, "accounts/1: the value of key 1100 grows from 277 to 23,115 bytes (×83.4) over 365 versions")]


def DRIFT(topic, partition, offset, change_id, first, **fx):
    """A schema_drift finding (issue 13): per topic and partition, the first offset of the new structure."""
    return F("schema_drift", topic=topic, partition=partition, offsets=[offset], first=first,
             **({"subject": None, "producer": None, "change_id": change_id, "changes": [], "compatibility": None} | fx))


def test_one_schema_change_per_topic_and_change_over_its_partitions():
    changes = [{"path": "data.price", "change": "type_changed", "from": "number", "to": "string"},
               {"path": "data.currency", "change": "added", "from": None, "to": "string"}]
    odds = [DRIFT("odds-updates", p, 100 + p, "c1", f"2026-01-01T19:10:0{p}.000Z", producer="odds-engine",
                  changes=changes, compatibility="FORWARD") for p in range(3)]
    other_change = DRIFT("odds-updates", 0, 500, "c2", "2026-01-01T19:30:00.000Z",
                         changes=[{"path": "data.note", "change": "removed", "from": "string", "to": None}],
                         compatibility="NONE")
    match = DRIFT("match-events", 0, 50, "c1", "2026-01-01T19:08:00.000Z", subject="match-events-value",
                  changes=[{"path": "data.var_review", "change": "added", "from": None, "to": "boolean"},
                           {"path": "data.var", "change": "default_missing", "from": None, "to": None}],
                  compatibility="FULL")
    _, cs = causes.group([*odds, other_change, match])
    assert sorted((c["kind"], c["topics"], c["total"], c["summary"]) for c in cs) == [
        ("schema_change", ["match-events"], 1,
         "match-events: from 19:08:00 adds data.var_review and gives data.var no default: compatible both ways (FULL)"),
        ("schema_change", ["odds-updates"], 1,
         "odds-updates: from 19:30:00 drops data.note: BACKWARD- and FORWARD-incompatible"),
        ("schema_change", ["odds-updates"], 3,
         "odds-updates: from 19:10:00 producer odds-engine sends data.price as a string (was a number) and adds "
         "data.currency: BACKWARD-incompatible")]
    big = next(c for c in cs if c["total"] == 3)
    assert big["partitions"] == {"odds-updates": [0, 1, 2]} and big["producers"] == ["odds-engine"]


def test_flow_runs_say_trigger_and_effect_and_custom_rules_their_name():
    missing = [F("flow", topic="bets", partition=0, key=f"b{i}", offsets=[i], rule="bet_settled", kind="missing",
                 **{"from": ["bets", 0, i]}, effects=[]) for i in range(3)]
    orphan = F("flow", topic="settlements", partition=1, key="x", offsets=[9], rule="bet_settled", kind="orphan",
               **{"from": None}, effects=[["settlements", 1, 9]])
    custom = [F("custom", topic="bets", partition=0, key=f"k{i}", offsets=[i], rule="negative_stake") for i in range(2)]
    _, cs = causes.group([*missing, orphan, *custom])
    assert sorted(c["summary"] for c in cs) == [
        "bets/0: 2 findings of rule negative_stake for 2 keys, 10:00:00–10:00:00",
        "bets: flow bet_settled: 3 triggers without their effect, 10:00:00–10:00:00",
        "settlements: flow bet_settled: 1 effect without a trigger, 10:00:00–10:00:00"]


def test_runs_split_at_the_episode_gap():
    gaps = [F("sequence_gap", "error", topic="bets", key=f"u{i}", offsets=[1, 2],
              first=f"2026-01-01T{h}:00:00.000Z", last=f"2026-01-01T{h}:01:00.000Z", entity=f"u{i}", missing=[3, 3])
            for i, h in enumerate(["10", "10", "13"])]
    assert kinds(gaps) == [("lost_events", 1), ("lost_events", 2)]
    assert len(causes.group(gaps, episode_gap_ms=4 * 3600_000)[1]) == 1


def test_late_events_split_by_producer_and_take_their_regressions():
    late = [F("out_of_order", topic="m", partition=0, key="a", offsets=[10], producer="p1"),
            F("out_of_order", topic="m", partition=1, key="b", offsets=[20], producer="p1"),
            F("out_of_order", topic="m", partition=1, key="c", offsets=[30], producer="p2")]
    regs = [F("sequence_regression", topic="m", partition=0, key="a", offsets=[9, 10]),
            F("sequence_regression", topic="m", partition=0, key="a", offsets=[11, 12])]
    assert kinds(late + regs) == [("late_events", 1), ("late_events", 3), ("sequence_regression", 1)]


def test_worst_first_and_severity_is_the_worst():
    fs = [F("offset_gap", "info", partition=0, offsets=[5, 6]),
          F("duplicate", "warning", partition=0, offsets=[1, 2], kind="exact"),
          F("duplicate", "warning", partition=0, offsets=[3, 4], kind="exact"),
          F("split_key", "error", key="k")]
    _, cs = causes.group(fs)
    assert [(c["severity"], c["total"]) for c in cs] == [("error", 1), ("warning", 2), ("info", 1)]


# --- the differential test against the reference model -----------------------------------------


def compare(findings, gap_ms=600_000):
    got_findings, got = causes.group(findings, episode_gap_ms=gap_ms)
    want = reference.causes(findings, gap_ms)
    mine = {}
    for i, f in enumerate(got_findings):
        mine.setdefault(f["cause"], []).append(i)
    assert {cid: sorted(m) for cid, m in mine.items()} == {cid: sorted(c["members"]) for cid, c in want.items()}
    for c in got:
        w = want[c["id"]]
        assert (c["kind"], c["severity"], c["findings"], c["topics"]) == \
            (w["kind"], w["severity"], dict(sorted(w["findings"].items())), sorted(w["topics"]))
        assert (reference.ts(c["first_ts"]), reference.ts(c["last_ts"])) == (w["first"], w["last"])


def test_reference_model_agrees_on_the_sample(sample):
    compare(sample)
    compare(without_facts(sample))


def random_findings(rng: random.Random):
    topics, producers, keys = ["a", "b"], ["p", "q", "r", None], ["k1", "k2", "k3", "k4", None]
    out = []

    def t(minute):
        return f"2026-01-01T{10 + minute // 60:02d}:{minute % 60:02d}:{rng.randrange(60):02d}.000Z"

    for _ in range(rng.randrange(0, 40)):
        check = rng.choice(["duplicate", "burst", "out_of_order", "sequence_regression", "sequence_gap", "split_key",
                            "partitioner", "key_encoding", "partition_count_change", "rate", "silence", "size", "flow",
                            "schema_drift", "offset_gap", "field_coverage"])
        topic, part, key = rng.choice(topics), rng.randrange(3), rng.choice(keys)
        m = rng.randrange(0, 120)
        first, last = t(m), t(m + rng.randrange(0, 20))
        if first > last:
            first, last = last, first
        fx, severity, partition, offsets = {}, "warning", part, sorted(rng.sample(range(40), 2))
        if check == "burst":
            lo = rng.randrange(30)
            check, offsets = "duplicate", list(range(lo, lo + 10))
            if rng.random() < 0.7:
                fx = {"kind": "burst", "copies": {"partition": part, "first": lo, "last": lo + 9, "records": 10},
                      "originals": [{"partition": rng.randrange(3), "first": 0, "last": 9}], "delay_ms": 5000}
        elif check == "duplicate":
            if rng.random() < 0.5:
                partition = None
                fx = {"kind": rng.choice(["exact", "logical"]),
                      "positions": [[rng.randrange(3), offsets[0]], [rng.randrange(3), offsets[1]]]}
        elif check == "out_of_order":
            scope = rng.choice(["entity", "partition", "split"])
            severity = "info" if scope == "partition" else "warning"
            if scope == "split":
                partition = None
                if rng.random() < 0.5:
                    fx = {"scope": "split", "entity": rng.choice(["k1", "k2", "7"]),
                          "keys": rng.sample(["k1", "k2", "\x00\x00\x00\x07"], 1)}
            else:
                offsets = [offsets[1]]
                if rng.random() < 0.5:
                    fx = {"scope": scope, "producer": rng.choice(producers)}
        elif check == "sequence_regression":
            pass
        elif check == "sequence_gap":
            partition, severity = None, rng.choice(["error", "info"])
        elif check == "split_key":
            partition, severity = None, "error"
            if rng.random() < 0.5:
                fx = {"partitions": [{"partition": 0, "producers": [rng.choice("pqr")]},
                                     {"partition": 1, "producers": [rng.choice("pqr")]}]}
        elif check == "partitioner":
            partition, key, offsets = None, None, []
            if rng.random() < 0.6:
                fx = {"producer": rng.choice("pqr"), "verdict": [rng.choice(["java_murmur2", "sarama_hash"])],
                      "records": rng.randrange(100)}
        elif check == "key_encoding":
            partition = None
            if rng.random() < 0.6:
                fx = {"logical_key": "7", "encodings": [{"encoding": "utf8", "key": "7"},
                                                        {"encoding": rng.choice(["int32_be", "int64_be"]),
                                                         "key": "\x00\x00\x00\x07"}]}
        elif check == "partition_count_change":
            partition = None
            if rng.random() < 0.5:
                fx = {"keys": rng.sample(["k1", "k2", "k3"], 2)}
        elif check == "rate":
            key = rng.choice(["k1", None])
            if rng.random() < 0.5:
                fx = {"rule": rng.choice(["r1", "r2"]), "per": "entity", "worst": [0, 1000, 9], "windows": 3,
                      "limit": 5, "window_ms": 1000}
        elif check in ("size", "flow"):
            if rng.random() < 0.5:
                fx = {"rule": rng.choice(["", "f1"]), "kind": rng.choice(["growing", "too_large", "repeated", "orphan"])}
                if check == "flow" and rng.random() < 0.5:
                    fx["effects"] = [[rng.choice(topics), rng.randrange(3), rng.randrange(40)]]
        elif check == "silence":
            key = rng.choice(["k1", None])
        elif check == "offset_gap":
            severity = rng.choice(["warning", "info"])
        elif check == "field_coverage":
            partition, key, offsets, severity, first, last = None, None, [], "info", None, None
        elif check == "schema_drift":
            offsets = offsets[:1]
            if rng.random() < 0.8:
                fx = {"change_id": rng.choice(["c1", "c2"]), "changes": [{"path": "x", "change": "added"}]}
        f = {"check": check, "severity": severity, "topic": topic, "partition": partition, "key": key,
             "offsets": offsets, "event_ids": [], "first_ts": first, "last_ts": last, "detail": ""}
        if fx:
            f["facts"] = fx
        if rng.random() < 0.2 and check not in ("partitioner", "key_encoding", "split_key"):
            f.setdefault("facts", {})["producer"] = rng.choice("pq")
        if any(causes.identity(g) == causes.identity(f) for g in out):
            continue  # the checks never emit one identity twice
        out.append(f)
    return out


@pytest.mark.parametrize("seed", range(300))
def test_reference_model_agrees_on_random_findings(seed):
    rng = random.Random(seed)
    compare(random_findings(rng), gap_ms=rng.choice([60_000, 600_000, 3_600_000]))


def test_text_and_html_show_every_cause_worst_first(sample):
    _, cs = causes.group(sample)
    lines = causes.to_text(cs)
    assert lines[0] == "6 causes of 1,177 findings, worst first:"
    assert lines[1].startswith("  1. [error] bets: producer settlement-service places keys")
    html = causes.to_html(cs, link=True)
    assert html.count("<tr>") == 7 and "<caption" in html and "6 causes of 1,177 findings, worst first" in html
    rep = next(c for c in cs if c["kind"] == "republication")
    assert f'<a href="#cause-{rep["id"]}">odds-updates/2: offsets 735–854 re-publish 595–714' in html
    assert causes.to_text([]) == ["no causes: nothing was found"]
    assert "No causes" in causes.to_html([])


def test_the_sample_without_incidents_has_no_cause(tmp_path):
    synth(tmp_path / "quiet", seed=7, incidents="none", quiet=True)
    report = check(tmp_path / "quiet", config=REPO / "data" / "sports-betting.toml", quiet=True)
    assert report.findings == [] and report.causes == [] and report.summary["causes"] == []


def test_check_report_carries_the_causes(sample):
    report = sample_report()
    assert [c["kind"] for c in report.causes] == ["partitioner", "lost_events", "republication", "key_encoding",
                                                 "late_events", "silence"]
    assert report.summary["causes"] == report.causes
    assert {f["cause"] for f in report.findings} == {c["id"] for c in report.causes}
    text = report.to_text()
    assert text.startswith("6 causes of 1,177 findings, worst first:\n  1. [error] bets: producer settlement-service")
    assert repr(report) == (  # one line, not every finding (a notebook shows it whole)
        "<CheckReport: 20,399 records, 1,177 findings (344 error, 833 warning), 6 causes; worst: bets: producer "
        "settlement-service places keys with Sarama's FNV-1a hash while b…; exit code 1>")
    assert report._repr_html_().count("<tr>") == 7


def test_rules_findings_join_their_incidents_causes():
    """With every check and the sample's rules (docs/rules.md): the auth burst's rate finding takes the
    silence beside it, the growing document is a cause of its own, the goals repriced twice (flow) join the
    re-publication that repeated their repricing: one cause per incident with findings."""
    report = sample_report(None)
    got = {c["kind"]: c for c in report.causes}
    kinds = ["partitioner", "lost_events", "republication", "key_encoding", "late_events", "rate_burst",
             "growing_value"]
    if "schema_drift" in {f["check"] for f in report.findings}:  # issue 13's check: the sample's schema change
        kinds.append("schema_change")
    assert sorted(got) == sorted(kinds) and len(report.causes) == len(kinds)
    assert got["republication"]["findings"] == {"duplicate": 121, "out_of_order": 120, "sequence_regression": 2,
                                                "flow": 2}
    assert got["rate_burst"]["findings"] == {"rate": 1, "silence": 1}
    assert got["rate_burst"]["summary"] == (
        "auth-attempts/0: entity 1337: 10 events in 1 s at 19:15:00 where login_attempts allows 5, 395 windows over "
        "the limit, after 264 s of silence")
    assert got["growing_value"]["summary"] == (
        "accounts/1: the value of key 1100 grows from 277 to 23,115 bytes (×83.4) over 365 versions")
