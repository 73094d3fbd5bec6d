"""The rules of docs/rules.md in evkit: config parsing (one-line usage errors), custom SQL columns, the
Python calls, and the sample's rules finding exactly its auth burst, growing document and repeated
repricings. (That every rule equals its definition is the differential test's job.)"""
from __future__ import annotations

import json
import tomllib

import pytest

import evkit
from evkit.cli import main
from evkit.errors import UsageError
from support import REPO
from support.analysis_data import BASE_MS, FIELDS, write

SAMPLE = REPO / "data" / "sports-betting"
CONFIG = REPO / "data" / "sports-betting.toml"
RATE = {"topic": "auth-attempts", "per": "entity", "max": 5, "window": "1s"}
FLOW = {"from": "bets", "from_type": "bet_placed", "to": "bets", "to_type": "bet_settled", "within": "2m"}


def sample_config(**sections) -> dict:
    return {**tomllib.loads(CONFIG.read_text()), **sections}


@pytest.mark.parametrize("sections, message", [
    ({"rates": {"r": {**RATE, "window": "1 sec"}}},
     "config [rates.r] window: '1 sec' is not a duration (an integer and a unit: 250ms, 1s, 5m, 2h, 1d)"),
    ({"rates": {"r": {**RATE, "max": -1}}}, "config [rates.r] max: expected a whole number of events >= 0, got -1"),
    ({"rates": {"r": {**RATE, "per": "user"}}}, "config [rates.r] per: 'user' is neither an event field nor a source"),
    ({"rates": {"r": {**RATE, "limit": 3}}}, "config [rates.r]: unknown key(s) limit"),
    ({"rates": {"r": {**RATE, "severity": "fatal"}}}, "config [rates.r] severity: 'fatal' is not one of info, warning, error"),
    ({"flows": {"f": {**FLOW, "expect": "two"}}}, "config [flows.f] expect: 'two' is not one of at_least_one, one"),
    ({"flows": {"f": {k: v for k, v in FLOW.items() if k != "to"}}}, "config [flows.f]: to is required"),
    ({"flows": {"f": {**FLOW, "from_type": 3}}}, "config [flows.f] from_type: expected an event type or a list of them"),
    ({"rules": {"c": {}}}, "config [rules.c]: give either sql = \"FILE.sql\" or query = \"SELECT ...\""),
    ({"rules": {"c": {"sql": "nowhere.sql"}}}, "config [rules.c] sql: nowhere.sql:"),
])
def test_a_bad_rule_is_a_one_line_usage_error(sections, message):
    with pytest.raises(UsageError) as raised:
        evkit.open(SAMPLE, config=sample_config(**sections), quiet=True)
    assert str(raised.value).startswith(message) and "\n" not in str(raised.value)


def test_a_where_that_duckdb_rejects_names_the_rule():
    with pytest.raises(UsageError, match=r"^config \[rates.r\] where: the condition .* does not work over events"):
        evkit.open(SAMPLE, config=sample_config(rates={"r": {**RATE, "where": "no_such_column > 1"}}), quiet=True)


@pytest.mark.parametrize("query, message", [
    ("SELECT 'x' AS offsets", "config [rules.c]: column offsets is VARCHAR, expected BIGINT[]"),
    ("SELECT 1 AS rows", "config [rules.c]: column(s) rows are not finding columns"),
    ("SELECT 'rate' AS \"check\"", "config [rules.c]: the query returns a check column"),
    ("SELECT nothing FROM nowhere", "config [rules.c]: the query fails"),
])
def test_a_custom_query_with_a_wrong_column_is_a_usage_error(query, message):
    with pytest.raises(UsageError) as raised:
        evkit.open(SAMPLE, config=sample_config(rules={"c": {"query": query}}), quiet=True)
    assert str(raised.value).startswith(message)


def test_a_custom_query_fills_missing_columns_and_takes_its_file_beside_the_config(tmp_path):
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "burst.sql").write_text(
        "SELECT topic, partition, key, [\"offset\"] AS offsets FROM events WHERE entity = '1337' AND \"offset\" = 148;")
    config = tmp_path / "evkit.toml"
    config.write_text(CONFIG.read_text() + '\n[rules.burst]\nsql = "rules/burst.sql"\nseverity = "error"\n')
    report = evkit.check(SAMPLE, checks="custom", config=config, quiet=True)
    assert [(f["check"], f["severity"], f["topic"], f["partition"], f["key"], f["offsets"], f["detail"])
            for f in report.findings] == [("custom", "error", "auth-attempts", 0, "1337", [148], "custom burst")]
    assert report.summary["findings"]["custom"] == {"error": 1, "warning": 0, "info": 0}


def test_the_sample_rules_find_the_auth_burst_the_growing_document_and_the_repeated_repricings():
    with evkit.open(SAMPLE, config=CONFIG, quiet=True) as ds:
        found = ds.findings(["rate", "size", "flow", "custom"], facts=True).fetchall()
        assert sorted((check, severity, topic, partition, bytes(key), list(offsets), json.loads(facts))
                      for check, severity, topic, partition, key, offsets, *_, facts in found) == [
            ("flow", "warning", "match-events", 2, b"d1e4d0a313932904757f1cba4a227f39", [345, 693, 833],
             {"rule": "goal_repriced", "kind": "repeated", "from": ["match-events", 2, 345],
              "effects": [["odds-updates", 2, 693], ["odds-updates", 2, 833]]}),
            ("flow", "warning", "match-events", 2, b"ed04ab15fd84e9e9afd89d212e980f0b", [304, 609, 749],
             {"rule": "goal_repriced", "kind": "repeated", "from": ["match-events", 2, 304],
              "effects": [["odds-updates", 2, 609], ["odds-updates", 2, 749]]}),
            ("rate", "warning", "auth-attempts", 0, b"1337", [217, 226],
             {"rule": "login_attempts", "per": "entity", "worst": [1763838900000, 1763838900900, 10], "windows": 395,
              "limit": 5, "window_ms": 1000,
              "burst": {"first_ts": "2025-11-22T19:15:00.000Z", "last_ts": "2025-11-22T19:15:39.900Z", "events": 400}}),
            ("size", "warning", "accounts", 1, b"1100", [1, 1364],
             {"kind": "growing", "first_bytes": 277, "last_bytes": 23115, "largest_bytes": 23115,
              "factor": pytest.approx(23115 / 277), "versions": 365}),
        ]
        [rate] = ds.rates().fetchall()
        funnel = {row[0]: row[1:] for row in ds.flow_funnel().fetchall()}
        assert funnel == {"bet_settled": (3323, 3323, 0, 0, 0, 0, 0), "goal_repriced": (100, 100, 0, 0, 0, 2, 0),
                          "wallet_updated": (3323, 3323, 0, 0, 0, 0, 0)}
        assert ds.size_versions().count("*").fetchall() == [(365,)]
        assert {row[0] for row in ds.rate_windows().select("group_label").fetchall()} == {"1337"}
        assert [growth for growth, in ds.sizes().select("growth").fetchall()] == [pytest.approx(23115 / 277)]


def test_without_rules_rate_flow_and_custom_find_nothing():
    report = evkit.check(SAMPLE, checks="rate,flow,custom", quiet=True)
    assert report.findings == [] and report.run == ["custom", "flow", "rate"]


def test_the_sample_rules_find_nothing_in_the_clean_streams(tmp_path):
    from evkit.sample.synth import synth

    synth(tmp_path / "clean", incidents="none", quiet=True)
    report = evkit.check(tmp_path / "clean", checks="rate,size,flow,custom", config=CONFIG, quiet=True)
    assert report.findings == []


# --- a flow across two clusters (a mirror), and the facts of each kind ---------------------------

MIRROR_FLOW = {"from": "bets", "to": "east.bets", "by": "event_id", "within": "1s", "expect": "one"}


def bet(topic: str, offset: int, ms: int, event_id: str, pad: int = 0) -> dict:
    value = {"id": event_id, "type": "bet_placed", "pad": "x" * pad}
    return {"topic": topic, "partition": 0, "offset": offset, "timestamp": BASE_MS + ms, "key": event_id.encode(),
            "value": json.dumps(value).encode()}


# Source bets a..e; the mirror (MirrorMaker's east.bets) copies a in time, never b, c 5 s late, d twice,
# and holds z, which the source never had; e comes 0.5 s before the mirror's dump ended.
SOURCE = [bet("bets", 0, 0, "a"), bet("bets", 1, 1000, "b"), bet("bets", 2, 2000, "c"), bet("bets", 3, 3000, "d", pad=100),
          bet("bets", 4, 9500, "e")]
MIRROR = [bet("east.bets", 0, 100, "a"), bet("east.bets", 1, 3100, "d"), bet("east.bets", 2, 3200, "d"),
          bet("east.bets", 3, 4000, "z"), bet("east.bets", 4, 7000, "c")]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> dict:
    """The same records as two datasets of two clusters (a source and its mirror, written with
    write_records: no second broker needed for what the flow reads) and as one dataset of one cluster."""
    root = tmp_path_factory.mktemp("mirror")
    fixed = BASE_MS + 10_000  # both dumps fixed their ends at 10 s
    return {"two clusters": [write(root / "east", SOURCE, cluster_id="east", end_fixed_at=fixed),
                             write(root / "west", MIRROR, cluster_id="west", end_fixed_at=fixed)],
            "one cluster": [write(root / "one", SOURCE + MIRROR, cluster_id="one", end_fixed_at=fixed)]}


@pytest.mark.parametrize("clusters", ["two clusters", "one cluster"])
def test_a_flow_reconciles_a_mirror_across_two_clusters_as_within_one(mirror, clusters):
    flow = {**MIRROR_FLOW, "from_cluster": "east", "to_cluster": "west"} if clusters == "two clusters" else MIRROR_FLOW
    report = evkit.check(*mirror[clusters], checks="flow", fields=FIELDS, config={"flows": {"mirrored": flow}}, quiet=True)
    found = sorted((f["severity"], f["topic"], f["partition"], f["key"], f["offsets"], f["facts"]) for f in report.findings)

    def facts(kind, origin, *effects):
        return {"rule": "mirrored", "kind": kind, "from": origin, "effects": [["east.bets", 0, o] for o in effects]}
    assert found == [
        ("error", "bets", 0, "b", [1], facts("missing", ["bets", 0, 1])),
        ("info", "bets", 0, "e", [4], facts("pending", ["bets", 0, 4])),
        ("warning", "bets", 0, "c", [2, 4], facts("late", ["bets", 0, 2], 4)),
        ("warning", "bets", 0, "d", [3, 1, 2], facts("repeated", ["bets", 0, 3], 1, 2)),
        ("warning", "east.bets", 0, "z", [3], facts("orphan", None, 3)),
    ]


def test_size_and_custom_facts(mirror):
    config = {"checks": {"size": {"max_bytes": 100}},
              "rules": {"odd": {"query": "SELECT topic, [\"offset\"] AS offsets FROM events WHERE event_id = 'z'"}}}
    report = evkit.check(*mirror["two clusters"], checks="size,custom", fields=FIELDS, config=config, quiet=True)
    assert sorted((f["check"], f["topic"], f["offsets"], f["facts"]) for f in report.findings) == [
        ("custom", "east.bets", [3], {"rule": "odd"}),
        ("size", "bets", [3], {"kind": "too_large", "first_bytes": None, "last_bytes": None,
                               "largest_bytes": len(SOURCE[3]["value"]),
                               "factor": None, "versions": None}),
    ]


# --- rules as options: evkit.check(rates=, flows=, max_bytes=, growth_factor=) and evkit check --rate ... ---

RATE_TEXT = "bursty: bets per topic max 1 in 2s"
FLOW_TEXT = "mirrored: bets bet_placed -> east.bets within 1s by event_id expect one"


def test_rules_given_as_options_in_python_and_on_the_command_line(mirror, capsys):
    report = evkit.check(*mirror["two clusters"], checks="rate,flow,size", fields=FIELDS, rates=[RATE_TEXT],
                         flows=[FLOW_TEXT], max_bytes=100, growth_factor=2.5, quiet=True)
    found = sorted((f["check"], f["topic"], f["offsets"], f["facts"].get("kind")) for f in report.findings)
    assert found == [("flow", "bets", [1], "missing"), ("flow", "bets", [2, 4], "late"), ("flow", "bets", [3, 1, 2], "repeated"),
                     ("flow", "bets", [4], "pending"), ("flow", "east.bets", [3], "orphan"),
                     ("rate", "bets", [0, 1], None), ("size", "bets", [3], "too_large")]
    [rate] = [f for f in report.findings if f["check"] == "rate"]
    assert rate["facts"] == {"rule": "bursty", "per": "topic", "worst": [BASE_MS, BASE_MS + 1000, 2], "windows": 3, "limit": 1,
                             "window_ms": 2000, "burst": {"first_ts": "2023-11-14T22:13:20.000Z",
                                                          "last_ts": "2023-11-14T22:13:23.000Z", "events": 4}}
    fields = [f"--field={name}={source}" for name, source in FIELDS.items()]
    assert main(["check", *map(str, mirror["two clusters"]), *fields, "--checks", "rate,flow,size", "--rate", RATE_TEXT,
                 "--flow", FLOW_TEXT, "--max-bytes", "100", "--growth-factor", "2.5", "--format", "json", "-q"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in lines[:-1]] == report.findings


@pytest.mark.parametrize("args, message", [
    (["--rate", "bursty: bets per topic max 1"],
     "rate 'bursty: bets per topic max 1': expected 'NAME: TOPIC per GROUP max N in DURATION [where EVENT_TYPE | SQL condition]'"),
    (["--rate", "b: bets per user max 1 in 1s"], "rate b per: 'user' is neither an event field nor a source; use partition, "
                                                 "topic, key, entity, event_id, trace_id, event_type, sequence, header:<name> "
                                                 "or a JSON path like $.a.b"),
    (["--rate", "b: bets per topic max 1 in 1s where no_such > 1"], "rate b where: the condition '(no_such > 1)' does not work"),
    (["--flow", "m: bets -> east.bets within a second"],
     "flow 'm: bets -> east.bets within a second': expected 'NAME: FROM [EVENT_TYPE] -> TO [EVENT_TYPE] within DURATION "
     "[by FIELD] [expect one | at_least_one]'"),
    (["--flow", "m: bets -> east.bets within 0s"], "flow m within: '0s' must be longer than 0"),
    (["--flow", "m: bets -> east.bets within 1s expect two"], "flow m expect: 'two' is not one of at_least_one, one"),
    (["--flow", "m: bets -> east.bets within 1s", "--flow", "m: bets -> bets within 1s"],
     "flow m: there is already a flow rule of that name"),
    (["--max-bytes", "-1"], "max_bytes: expected a whole number of bytes >= 0, got -1"),
    (["--growth-factor", "0"], "growth_factor: expected a number > 0, got 0.0"),
])
def test_a_bad_rule_option_is_a_one_line_error(mirror, capsys, args, message):
    assert main(["check", *map(str, mirror["two clusters"]), "--field", "event_type=$.type", *args, "-q"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evkit: error: {message}") and err.count("\n") == 1


def test_a_rule_option_may_not_reuse_a_config_rule_name():
    with pytest.raises(UsageError, match=r"^rate login_attempts: there is already a rate rule of that name$"):
        evkit.open(SAMPLE, config=CONFIG, rates={"login_attempts": RATE}, quiet=True)


def test_a_rate_burst_straddling_two_clock_seconds_is_found_whole(tmp_path):
    # 4 events in [0.7 s, 1.7 s): no clock-aligned second holds more than 2, and evkit's own
    # window-long buckets (which begin at 0.096 s past each second) hold 2 and 2; max 3 is exceeded
    rows = [bet("bets", offset, ms, f"b{offset}") | {"key": b"u1"} for offset, ms in enumerate([700, 900, 1100, 1300, 5000])]
    root = write(tmp_path / "ds", rows)
    report = evkit.check(root, checks="rate", fields=FIELDS, rates=["burst: bets per key max 3 in 1s"], quiet=True)
    assert [(f["key"], f["offsets"], f["facts"]["worst"], f["facts"]["windows"]) for f in report.findings] == [
        ("u1", [0, 3], [BASE_MS + 700, BASE_MS + 1300, 4], 1)]
