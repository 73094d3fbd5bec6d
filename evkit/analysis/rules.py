"""The analyst's rules (docs/rules.md): `[rates.NAME]`, `[flows.NAME]` and `[rules.NAME]` of the config,
validated into plain values, and the DuckDB tables and selection views that the rule SQL files
(`sql/rate.sql`, `sql/flow.sql`, `sql/custom.sql`) read. The size check is a plain check with
parameters (`[checks.size]`); it needs nothing from here but the validation of `min_versions`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

DURATION = re.compile(r"([0-9]+)(ms|s|m|h|d)")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
EVENT_TYPE = re.compile(r"[A-Za-z0-9_.:/-]+")
EVENT_FIELDS = ("entity", "event_id", "trace_id", "event_type", "sequence")
SEVERITIES = ("info", "warning", "error")
EXPECT = ("at_least_one", "one")
RULE_SECTIONS = ("rates", "flows", "rules")
_JSON_PATH = re.compile(r"^\$(\.[^.\[\]\"*][^.\[\]]*|\[\d+\])+$")

# finding column -> (SQL type, what DuckDB types a query may return for it)
CUSTOM_COLUMNS = {
    "severity": ("VARCHAR", ("VARCHAR",)),
    "topic": ("VARCHAR", ("VARCHAR",)),
    "partition": ("INTEGER", ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT")),
    "key": ("BLOB", ("BLOB", "VARCHAR")),
    "offsets": ("BIGINT[]", ("TINYINT[]", "SMALLINT[]", "INTEGER[]", "BIGINT[]", "UINTEGER[]", "UBIGINT[]", "HUGEINT[]")),
    "event_ids": ("VARCHAR[]", ("VARCHAR[]",)),
    "first_ts": ("TIMESTAMPTZ", ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_S", "DATE")),
    "last_ts": ("TIMESTAMPTZ", ("TIMESTAMP WITH TIME ZONE", "TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_NS", "TIMESTAMP_S", "DATE")),
    "detail": ("VARCHAR", ("VARCHAR",)),
}


@dataclass(frozen=True)
class Rate:
    name: str
    topic: str
    per: str
    max: int
    window_ms: int
    window: str
    where: str | tuple[str, ...] | None = None
    severity: str = "warning"
    origin: str = ""  # where it was stated, for errors: "config [rates.NAME]" or "rate NAME" (an option)


@dataclass(frozen=True)
class Side:
    topic: str
    cluster: str | None
    kinds: tuple[str, ...] | None
    where: str | None
    by: str


@dataclass(frozen=True)
class Flow:
    name: str
    cause: Side
    effect: Side
    within_ms: int
    within: str
    expect: str = "at_least_one"
    origin: str = ""  # "config [flows.NAME]" or "flow NAME" (an option)


@dataclass(frozen=True)
class Custom:
    name: str
    query: str
    severity: str = "warning"


@dataclass
class Rules:
    rates: list[Rate] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    custom: list[Custom] = field(default_factory=list)

    def sources(self) -> set[str]:
        """The field sources (header:<n>, $.path) the rules group or correlate by: extracted as events
        columns `"src:<source>"` alongside the event fields."""
        names = [r.per for r in self.rates] + [s.by for f in self.flows for s in (f.cause, f.effect)]
        return {n for n in names if n.startswith(("header:", "$"))}


# --- parsing -------------------------------------------------------------------------------------

def duration_ms(value: Any, where: str) -> int:
    match = DURATION.fullmatch(value) if isinstance(value, str) else None
    if not match:
        raise UsageError(f"{where}: {value!r} is not a duration (an integer and a unit: 250ms, 1s, 5m, 2h, 1d)")
    ms = int(match.group(1)) * UNIT_MS[match.group(2)]
    if ms <= 0:
        raise UsageError(f"{where}: {value!r} must be longer than 0")
    return ms


def _string(table: Mapping, name: str, where: str, *, required: bool = False, default: str | None = None) -> str | None:
    value = table.get(name, default)
    if value is None:
        if required:
            raise UsageError(f"{where}: {name} is required")
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f"{where} {name}: expected a non-empty string, got {value!r}")
    return value


def _choice(table: Mapping, name: str, where: str, choices: tuple[str, ...], default: str) -> str:
    value = table.get(name, default)
    if value not in choices:
        raise UsageError(f"{where} {name}: {value!r} is not one of {', '.join(choices)}")
    return value


def _unknown(table: Mapping, known: tuple[str, ...], where: str) -> None:
    extra = sorted(set(table) - set(known))
    if extra:
        raise UsageError(f"{where}: unknown key(s) {', '.join(extra)}; keys are {', '.join(known)}")


def _value_name(value: str | None, name: str, where: str, extra: tuple[str, ...] = ()) -> str:
    """A group or correlation value: an event field, `key`, a header or a JSON path (or `extra`)."""
    if value in EVENT_FIELDS or value in extra or value == "key":
        return value
    if value.startswith("header:") and len(value) > len("header:"):
        return value
    if _JSON_PATH.match(value):
        return value
    choices = ", ".join((*extra, "key", *EVENT_FIELDS))
    raise UsageError(f"{where} {name}: {value!r} is neither an event field nor a source; use {choices}, "
                     "header:<name> or a JSON path like $.a.b")


def _kinds(value: Any, name: str, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and EVENT_TYPE.fullmatch(v) for v in values):
        raise UsageError(f"{where} {name}: expected an event type or a list of them, got {value!r}")
    return tuple(values)


def parse_rate(name: str, table: Mapping, origin: str | None = None) -> Rate:
    where = origin or f"config [rates.{name}]"
    _unknown(table, ("topic", "per", "max", "window", "where", "severity"), where)
    maximum = table.get("max")
    if isinstance(maximum, bool) or not isinstance(maximum, int) or maximum < 0:
        raise UsageError(f"{where} max: expected a whole number of events >= 0, got {maximum!r}")
    window = table.get("window")
    return Rate(name, _string(table, "topic", where, required=True),
                _value_name(_string(table, "per", where, required=True), "per", where, ("partition", "topic")),
                maximum, duration_ms(window, f"{where} window"), window, _string(table, "where", where),
                _choice(table, "severity", where, SEVERITIES, "warning"), where)


def parse_flow(name: str, table: Mapping, origin: str | None = None) -> Flow:
    where = origin or f"config [flows.{name}]"
    _unknown(table, ("from", "from_type", "from_where", "from_cluster", "by_from", "to", "to_type", "to_where",
                     "to_cluster", "by_to", "by", "within", "expect"), where)
    by = _value_name(_string(table, "by", where, default="trace_id"), "by", where)
    sides = []
    for side in ("from", "to"):
        sides.append(Side(_string(table, side, where, required=True), _string(table, f"{side}_cluster", where),
                          _kinds(table.get(f"{side}_type"), f"{side}_type", where), _string(table, f"{side}_where", where),
                          _value_name(_string(table, f"by_{side}", where, default=by), f"by_{side}", where)))
    within = table.get("within")
    return Flow(name, sides[0], sides[1], duration_ms(within, f"{where} within"), within,
                _choice(table, "expect", where, EXPECT, "at_least_one"), where)


def parse_custom(name: str, table: Mapping, base: Path | None) -> Custom:
    where = f"config [rules.{name}]"
    _unknown(table, ("sql", "query", "severity"), where)
    if ("sql" in table) == ("query" in table):
        raise UsageError(f"{where}: give either sql = \"FILE.sql\" or query = \"SELECT ...\"")
    if "sql" in table:
        path = Path(_string(table, "sql", where))
        path = path if path.is_absolute() or base is None else base / path
        try:
            query = path.read_text()
        except OSError as exc:
            raise UsageError(f"{where} sql: {path}: {exc.strerror or exc}") from None
    else:
        query = _string(table, "query", where)
    query = query.strip().rstrip(";").strip()
    if not query:
        raise UsageError(f"{where}: the query is empty")
    return Custom(name, query, _choice(table, "severity", where, SEVERITIES, "warning"))


def parse_rules(raw: Mapping, base: Path | None = None) -> Rules:
    """The rule sections of a config (as TOML gives them); `base` is the config file's directory."""
    rules = Rules()
    for section, parse in (("rates", parse_rate), ("flows", parse_flow)):
        tables = raw.get(section, {})
        if not isinstance(tables, Mapping):
            raise UsageError(f"config [{section}]: expected tables [{section}.NAME]")
        for name, table in tables.items():
            if not isinstance(table, Mapping):
                raise UsageError(f"config [{section}.{name}]: expected a table")
            getattr(rules, section).append(parse(name, table))
    tables = raw.get("rules", {})
    if not isinstance(tables, Mapping):
        raise UsageError("config [rules]: expected tables [rules.NAME]")
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise UsageError(f"config [rules.{name}]: expected a table")
        rules.custom.append(parse_custom(name, table, base))
    return rules


# --- rules as options (evkit check --rate / --flow, evkit.open(rates=, flows=)) -------------------

RATE_TEXT = re.compile(r"(?P<name>[^:\s]+)\s*:\s*(?P<topic>\S+)\s+per\s+(?P<per>\S+)\s+max\s+(?P<max>\S+)"
                       r"\s+in\s+(?P<window>\S+)(?:\s+where\s+(?P<where>\S.*?))?")
RATE_USAGE = "NAME: TOPIC per GROUP max N in DURATION [where EVENT_TYPE | SQL condition]"
FLOW_TEXT = re.compile(r"(?P<name>[^:\s]+)\s*:\s*(?P<from>[^\s>]+)(?:\s+(?P<from_type>[^\s>-]\S*))?\s*->\s*(?P<to>\S+)"
                       r"(?:\s+(?P<to_type>\S+))?\s+within\s+(?P<within>\S+)(?:\s+by\s+(?P<by>\S+))?"
                       r"(?:\s+expect\s+(?P<expect>\S+))?")
FLOW_USAGE = "NAME: FROM [EVENT_TYPE] -> TO [EVENT_TYPE] within DURATION [by FIELD] [expect one | at_least_one]"


def parse_rate_text(text: str) -> tuple[str, dict]:
    """`login_attempts: auth-attempts per entity max 5 in 1s [where login_failed]` as (name, [rates.NAME] table)."""
    match = RATE_TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise UsageError(f"rate {text!r}: expected {RATE_USAGE!r}")
    table = {k: v for k, v in match.groupdict().items() if v is not None and k != "name"}
    table["max"] = int(table["max"]) if table["max"].isdigit() else table["max"]
    return match["name"], table


def parse_flow_text(text: str) -> tuple[str, dict]:
    """`bet_settled: bets bet_placed -> bets bet_settled within 2m [by trace_id] [expect one]` as (name, [flows.NAME] table)."""
    match = FLOW_TEXT.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise UsageError(f"flow {text!r}: expected {FLOW_USAGE!r}")
    return match["name"], {k: v for k, v in match.groupdict().items() if v is not None and k != "name"}


def with_options(rules: Rules, *, rates: Iterable[str] | Mapping[str, Mapping] | None = None,
                 flows: Iterable[str] | Mapping[str, Mapping] | None = None) -> Rules:
    """The config's rules and those given as options: texts (RATE_USAGE, FLOW_USAGE) or tables by name
    as in the config; a name given twice is a UsageError."""
    added = Rules(list(rules.rates), list(rules.flows), list(rules.custom))
    for kind, given, parse_text, parse, usage in (("rate", rates, parse_rate_text, parse_rate, RATE_USAGE),
                                                  ("flow", flows, parse_flow_text, parse_flow, FLOW_USAGE)):
        if given is None:
            continue
        if isinstance(given, str):
            given = [given]
        tables = list(given.items()) if isinstance(given, Mapping) else [parse_text(text) for text in given]
        known = getattr(added, f"{kind}s")
        for name, table in tables:
            if not isinstance(table, Mapping):
                raise UsageError(f"{kind} {name}: expected a table (a dict) or a text {usage!r}")
            if any(rule.name == name for rule in known):
                raise UsageError(f"{kind} {name}: there is already a {kind} rule of that name")
            known.append(parse(name, table, f"{kind} {name}"))
    return added


def size_options(*, max_bytes: int | None = None, growth_factor: float | None = None) -> dict[str, int | float]:
    """[checks.size] parameters given as options, validated."""
    params: dict[str, int | float] = {}
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise UsageError(f"max_bytes: expected a whole number of bytes >= 0, got {max_bytes!r}")
        params["max_bytes"] = max_bytes
    if growth_factor is not None:
        if isinstance(growth_factor, bool) or not isinstance(growth_factor, (int, float)) or not growth_factor > 0:
            raise UsageError(f"growth_factor: expected a number > 0, got {growth_factor!r}")
        params["growth_factor"] = growth_factor
    return params


# --- SQL -----------------------------------------------------------------------------------------

def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source_column(source: str) -> str:
    """The events column that holds a rule's source (see Rules.sources)."""
    return '"' + ("src:" + source).replace('"', '""') + '"'


def source_sql(source: str) -> str:
    """SQL (VARCHAR) reading a rule's header or JSON source from a record (its `value` and `headers`),
    as the event fields' sources read them (docs/analysis.md, "Event fields")."""
    if source.startswith("header:"):
        return f"try(decode(list_filter(headers, lambda h: h.key = {sql_string(source[len('header:'):])})[-1].value))"
    return f"try(json_extract_string(try(decode(value)), {sql_string(source)}))"


def source_columns_sql(rules: Rules) -> str:
    """`, <expression> AS "src:<source>"` for every source the rules group or correlate by."""
    return "".join(f", {source_sql(source)} AS {source_column(source)}" for source in sorted(rules.sources()))


def value_sql(name: str) -> str:
    """SQL (VARCHAR) of a group or correlation value over `events`."""
    if name in EVENT_FIELDS:
        return f"{name}::VARCHAR"
    if name == "key":
        return "coalesce(key_text, 'base64:' || to_base64(key))"
    return source_column(name)


def where_sql(where: str | None, kinds: tuple[str, ...] | None = None) -> str:
    parts = []
    if kinds is not None:
        parts.append(f"event_type IN ({', '.join(sql_string(k) for k in kinds)})")
    if where is not None:
        parts.append(f"event_type = {sql_string(where)}" if EVENT_TYPE.fullmatch(where) else f"({where})")
    return " AND ".join(parts) or "true"


TIME = "epoch_ms(coalesce(event_time, timestamp))"
# A rule's `bucket`: the window-long (rates) or `within`-long (flows) slice of time an event is in,
# (time + 2^62) // length: shifted so that floor division is integer division (where the slices
# begin does not matter, only that they are that long); the SQL prefilters by it (sql/rate.sql, flow.sql).
BUCKET_SHIFT = 1 << 62


def rate_input_sql(rate: Rate) -> str:
    if rate.per == "topic":
        group, key, label, present = "''::BLOB", "NULL::BLOB", "topic", "true"
    elif rate.per == "partition":
        group, key, label, present = "encode(partition::VARCHAR)", "NULL::BLOB", "partition::VARCHAR", "true"
    elif rate.per == "key":
        group, key, label, present = "key", "key", value_sql("key"), "key IS NOT NULL"
    else:
        value = value_sql(rate.per)
        group, key, label, present = f"encode({value})", f"encode({value})", value, f"{value} IS NOT NULL"
    return (f'SELECT {sql_string(rate.name)} AS rule, cluster_id, topic, partition, "offset", {TIME} AS t, event_id, '
            f"{group} AS grp, {key} AS group_key, {label} AS group_label, "
            f"({TIME} + {BUCKET_SHIFT}) // {rate.window_ms} AS bucket FROM events "
            f"WHERE topic = {sql_string(rate.topic)} AND {present} AND {where_sql(rate.where)}")


def flow_events_sql(flow: Flow) -> str:
    """One row per event that is a cause or an effect of the flow (or both), with both values."""
    def role(side: Side) -> tuple[str, str]:
        value = value_sql(side.by)
        cluster = "" if side.cluster is None else f" AND cluster_id = {sql_string(side.cluster)}"
        return value, f"coalesce(topic = {sql_string(side.topic)}{cluster} AND {value} IS NOT NULL AND {where_sql(side.where, side.kinds)}, false)"
    cause_value, is_cause = role(flow.cause)
    effect_value, is_effect = role(flow.effect)
    topics = ", ".join(sql_string(t) for t in sorted({flow.cause.topic, flow.effect.topic}))
    return (f"SELECT * FROM (SELECT {sql_string(flow.name)} AS rule, cluster_id, topic, partition, \"offset\", {TIME} AS t, "
            f"event_id, {is_cause} AS is_cause, {is_effect} AS is_effect, {cause_value} AS v_cause, {effect_value} AS v_effect, "
            f"({TIME} + {BUCKET_SHIFT}) // {flow.within_ms} AS bucket "
            f"FROM events WHERE topic IN ({topics})) WHERE is_cause OR is_effect")


RATE_INPUT_EMPTY = ('SELECT NULL::VARCHAR AS rule, NULL::VARCHAR AS cluster_id, NULL::VARCHAR AS topic, NULL::INTEGER AS partition, '
                    'NULL::BIGINT AS "offset", NULL::BIGINT AS t, NULL::VARCHAR AS event_id, NULL::BLOB AS grp, '
                    'NULL::BLOB AS group_key, NULL::VARCHAR AS group_label, NULL::BIGINT AS bucket WHERE false')
FLOW_EVENTS_EMPTY = ('SELECT NULL::VARCHAR AS rule, NULL::VARCHAR AS cluster_id, NULL::VARCHAR AS topic, '
                     'NULL::INTEGER AS partition, NULL::BIGINT AS "offset", NULL::BIGINT AS t, NULL::VARCHAR AS event_id, '
                     'NULL::BOOLEAN AS is_cause, NULL::BOOLEAN AS is_effect, NULL::VARCHAR AS v_cause, '
                     'NULL::VARCHAR AS v_effect, NULL::BIGINT AS bucket WHERE false')


def _check_condition(con, rule: str, condition: str) -> None:
    import duckdb
    try:
        con.execute(f"SELECT 1 FROM events WHERE {condition} LIMIT 0")
    except duckdb.Error as exc:
        first = str(exc).splitlines()[0]
        raise UsageError(f"{rule}: the condition {condition!r} does not work over events ({first})") from None


def create_rule_tables(con, rules: Rules) -> None:
    """The rules as DuckDB tables and views (rate_rules, rate_input, flow_rules, flow_events); a where
    condition DuckDB rejects is a UsageError naming the rule."""
    con.execute("CREATE OR REPLACE TABLE rate_rules (rule VARCHAR, topic VARCHAR, per VARCHAR, max_events BIGINT, "
                "window_ms BIGINT, window_text VARCHAR, severity VARCHAR)")
    for r in rules.rates:
        _check_condition(con, f"{r.origin} where", where_sql(r.where))
        con.execute("INSERT INTO rate_rules VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [r.name, r.topic, r.per, r.max, r.window_ms, r.window, r.severity])
    con.execute("CREATE OR REPLACE VIEW rate_input AS "
                + (" UNION ALL ".join(rate_input_sql(r) for r in rules.rates) or RATE_INPUT_EMPTY))
    con.execute("CREATE OR REPLACE TABLE flow_rules (rule VARCHAR, from_topic VARCHAR, from_cluster VARCHAR, "
                "to_topic VARCHAR, to_cluster VARCHAR, within_ms BIGINT, within_text VARCHAR, expect VARCHAR)")
    for f in rules.flows:
        for side, s in (("from", f.cause), ("to", f.effect)):
            _check_condition(con, f"{f.origin} {side}_where", where_sql(s.where, s.kinds))
        con.execute("INSERT INTO flow_rules VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [f.name, f.cause.topic, f.cause.cluster, f.effect.topic, f.effect.cluster, f.within_ms, f.within, f.expect])
    con.execute("CREATE OR REPLACE VIEW flow_events AS "
                + (" UNION ALL ".join(flow_events_sql(f) for f in rules.flows) or FLOW_EVENTS_EMPTY))


EMPTY_FINDING = ", ".join(f"NULL::{sql_type} AS {name}" for name, (sql_type, _) in CUSTOM_COLUMNS.items())


def custom_findings_sql(con, rule: Custom) -> str:
    """The rule's query as findings: its columns cast to the findings contract, the missing ones null."""
    import duckdb
    where = f"config [rules.{rule.name}]"
    try:
        described = con.execute(f"DESCRIBE ({rule.query})").fetchall()
    except duckdb.Error as exc:
        raise UsageError(f"{where}: the query fails ({str(exc).splitlines()[0]})") from None
    types = {row[0]: row[1] for row in described}
    if "check" in types:
        raise UsageError(f"{where}: the query returns a check column; a custom rule's findings are check 'custom'")
    unknown = sorted(set(types) - set(CUSTOM_COLUMNS))
    if unknown:
        raise UsageError(f"{where}: column(s) {', '.join(unknown)} are not finding columns; "
                         f"finding columns are {', '.join(CUSTOM_COLUMNS)}")
    columns = []
    for name, (sql_type, accepted) in CUSTOM_COLUMNS.items():
        quoted = f'q."{name}"'
        if name not in types:
            expr = f"NULL::{sql_type}"
        elif types[name] not in accepted:
            raise UsageError(f"{where}: column {name} is {types[name]}, expected {sql_type}")
        elif name == "key" and types[name] == "VARCHAR":
            expr = f"encode({quoted})"
        else:
            expr = f"{quoted}::{sql_type}"
        if name == "severity":
            expr = (f"CASE WHEN coalesce({expr}, {sql_string(rule.severity)}) IN ('info', 'warning', 'error') "
                    f"THEN coalesce({expr}, {sql_string(rule.severity)}) "
                    f"ELSE error({sql_string(where + ': severity must be info, warning or error, got ')} || {expr}) END")
        if name == "detail":
            expr = f"{sql_string('custom ' + rule.name)} || coalesce(': ' || {expr}, '')"
        columns.append(f"{expr} AS {name}")
    facts = f"to_json({{'rule': {sql_string(rule.name)}}}) AS facts"
    return f"SELECT 'custom' AS \"check\", {', '.join(columns)}, {facts} FROM ({rule.query}) q"


def custom_rule_findings_sql(con, rules: Rules) -> str:
    """Every custom rule's findings as one query (no rows without custom rules), with their facts."""
    return " UNION ALL ".join([custom_findings_sql(con, rule) for rule in rules.custom]
                              or [f"SELECT * FROM (SELECT NULL AS \"check\", {EMPTY_FINDING}, NULL::JSON AS facts) WHERE false"])
