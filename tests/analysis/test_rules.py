"""The rules of docs/rules.md in evkit: config parsing (one-line usage errors), custom SQL columns, the
Python calls, and the sample's rules finding exactly its auth burst, growing document and repeated
repricings. (That every rule equals its definition is the differential test's job.)"""
from __future__ import annotations

import tomllib

import pytest

import evkit
from evkit.errors import UsageError
from support import REPO

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
        found = ds.findings(["rate", "size", "flow", "custom"]).fetchall()
        assert sorted((check, severity, topic, partition, bytes(key), list(offsets)) for check, severity, topic, partition,
                      key, offsets, *_ in found) == [
            ("flow", "warning", "match-events", 2, b"d1e4d0a313932904757f1cba4a227f39", [345, 693, 833]),
            ("flow", "warning", "match-events", 2, b"ed04ab15fd84e9e9afd89d212e980f0b", [304, 609, 749]),
            ("rate", "warning", "auth-attempts", 0, b"1337", [217, 226]),
            ("size", "warning", "accounts", 1, b"1100", [1, 1364]),
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
