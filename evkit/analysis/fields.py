"""Where each event field comes from, per topic: config file, API/CLI options, validation, and SQL.

An event field (`event_id`, `entity`, `event_time`, `sequence`, `event_type`, `trace_id`) is read
from a *source*: `key` (the key as its topic's `key_format` decodes it), `timestamp` (the record
timestamp; event_time only), `header:<name>` (the last header of that name, as UTF-8) or a path
into the value as its topic's `value_format` decodes it (`$.a.b` in JSON, `$` the whole value; see
evkit/analysis/decoders/). Later settings win:
built-in defaults < config `[defaults]` < config `[topics.<t>]` < options for all topics < options
for one topic (`topic:name=source`).
"""
from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .rules import RULE_SECTIONS, Rules, parse_rules
from .decoders import Decoder, decoder

FIELDS = ("event_id", "entity", "event_time", "sequence", "event_type", "trace_id")
DEFAULT_SOURCES = {"entity": "key", "event_time": "timestamp", "trace_id": "header:traceparent"}
TOPIC_OPTIONS = ("transactional",)
FORMAT_OPTIONS = ("key_format", "value_format")  # [defaults] and [topics.<t>]: a registered decoder's name
DEFAULT_FORMATS = {"key_format": "auto", "value_format": "auto"}  # auto: json values, text keys unless framed

# A key may not start with '"' (DuckDB's quoted-key syntax) nor with '*' (a wildcard): both fail in SQL.
_JSON_PATH = re.compile(r"^\$(\.[^.\[\]\"*][^.\[\]]*|\[\d+\])*$")


def validate_source(name: str, source: str) -> str:
    """Return `source` if it is a valid source for field `name`, else raise a one-line UsageError."""
    if name not in FIELDS:
        raise UsageError(f"unknown event field {name!r}; fields are {', '.join(FIELDS)}")
    if source == "key" or (source.startswith("header:") and len(source) > len("header:")):
        return source
    if source == "timestamp":
        if name != "event_time":
            raise UsageError(f"field {name}: source 'timestamp' is only valid for event_time")
        return source
    if _JSON_PATH.match(source):
        return source
    raise UsageError(f"field {name}: bad source {source!r}; use key, timestamp, header:<name> or a JSON path like $.a.b")


@dataclass
class FieldConfig:
    """Resolved field sources and topic options; `explicit` marks sources the analyst chose."""

    defaults: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SOURCES))
    topics: dict[str, dict[str, str]] = field(default_factory=dict)
    explicit: dict[str, set[str]] = field(default_factory=dict)  # topic or "*" -> field names
    topic_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    check_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    rules: Rules = field(default_factory=Rules)  # [rates.*], [flows.*], [rules.*] (docs/rules.md)
    formats: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FORMATS))  # [defaults]

    def sources(self, topic: str) -> dict[str, str]:
        """Field -> source for one topic (fields without a source are absent)."""
        return {**self.defaults, **self.topics.get(topic, {})}

    def is_explicit(self, topic: str, name: str) -> bool:
        return name in self.explicit.get(topic, set()) or name in self.explicit.get("*", set())

    def transactional(self, topic: str) -> bool | None:
        return self.topic_options.get(topic, {}).get("transactional")

    def decoders(self, topic: str) -> tuple[Decoder, Decoder]:
        """The (key, value) decoders of one topic."""
        chosen = {**self.formats, **{k: v for k, v in self.topic_options.get(topic, {}).items() if k in FORMAT_OPTIONS}}
        return decoder(chosen["key_format"], f"[topics.{topic}] key_format"), \
            decoder(chosen["value_format"], f"[topics.{topic}] value_format")


def load_config(config: str | Path | Mapping | None) -> dict:
    """The config as a dict: a TOML file path, an already-parsed mapping, or None."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    path = Path(config)
    try:
        return tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"config file {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path}: not valid TOML ({exc})") from None


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, Mapping):
        raise UsageError(f"config {where}: expected a table, got {type(value).__name__}")
    return dict(value)


def _field_table(table: dict, where: str, *, allow_options: bool) -> tuple[dict[str, str], dict[str, Any]]:
    sources, options = {}, {}
    for name, source in table.items():
        if name in FORMAT_OPTIONS:
            if not isinstance(source, str):
                raise UsageError(f"config {where}.{name}: expected a format name such as \"json\"")
            options[name] = decoder(source, f"config {where}.{name}").name
            continue
        if allow_options and name in TOPIC_OPTIONS:
            if not isinstance(source, bool):
                raise UsageError(f"config {where}.{name}: expected true or false")
            options[name] = source
            continue
        if not isinstance(source, str):
            raise UsageError(f"config {where}.{name}: expected a source string, got {source!r}")
        sources[name] = validate_source(name, source)
    return sources, options


def parse_field_options(fields: Mapping[str, str] | Iterable[str] | None) -> list[tuple[str | None, str, str]]:
    """`{"entity": "$.id", "orders:event_id": "$.id"}` or `["entity=$.id", ...]` -> (topic, name, source)."""
    if not fields:
        return []
    items = fields.items() if isinstance(fields, Mapping) else (_split_option(option) for option in fields)
    parsed = []
    for target, source in items:
        topic, _, name = target.rpartition(":")
        parsed.append((topic or None, name, validate_source(name, source)))
    return parsed


def _split_option(option: str) -> tuple[str, str]:
    target, sep, source = option.partition("=")
    if not sep or not target or not source:
        raise UsageError(f"--field {option!r}: expected NAME=SOURCE or TOPIC:NAME=SOURCE")
    return target, source


def resolve_fields(fields: Mapping[str, str] | Iterable[str] | None = None,
                   config: str | Path | Mapping | None = None, *, check_names: Iterable[str] = ()) -> FieldConfig:
    """Merge built-in defaults, the config file and field options into one FieldConfig."""
    raw = load_config(config)
    unknown = set(raw) - {"defaults", "topics", "checks", *RULE_SECTIONS}
    if unknown:
        raise UsageError(f"config: unknown section(s) {', '.join(sorted(unknown))}; use [defaults], [topics.<name>], "
                         "[checks.<name>], [rates.<name>], [flows.<name>], [rules.<name>]")
    resolved = FieldConfig()
    defaults, formats = _field_table(_table(raw.get("defaults", {}), "[defaults]"), "[defaults]", allow_options=False)
    resolved.defaults.update(defaults)
    resolved.formats.update(formats)
    resolved.explicit["*"] = set(defaults)
    for topic, table in _table(raw.get("topics", {}), "[topics]").items():
        sources, options = _field_table(_table(table, f"[topics.{topic}]"), f"[topics.{topic}]", allow_options=True)
        resolved.topics[topic] = sources
        resolved.explicit[topic] = set(sources)
        resolved.topic_options[topic] = options
    known_checks = set(check_names)
    for name, params in _table(raw.get("checks", {}), "[checks]").items():
        if known_checks and name not in known_checks:
            raise UsageError(f"config [checks.{name}]: unknown check; checks are {', '.join(sorted(known_checks))}")
        resolved.check_params[name] = _table(params, f"[checks.{name}]")
    resolved.rules = parse_rules(raw, Path(config).parent if isinstance(config, (str, Path)) else None)
    for topic, name, source in parse_field_options(fields):
        if topic is None:
            resolved.defaults[name] = source
            for per_topic in resolved.topics.values():
                per_topic.pop(name, None)
        else:
            resolved.topics.setdefault(topic, {})[name] = source
        resolved.explicit.setdefault(topic or "*", set()).add(name)
    return resolved


def sql_string(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _raw_expression(source: str, value_paths: list[str], key: Decoder) -> str:
    """SQL (VARCHAR) reading `source` from a record; value paths index the one-decode list `_value`."""
    if source == "key":
        return f"{key.extract('key', ['$'])}[1]"
    if source == "timestamp":
        return "strftime(timestamp, '%Y-%m-%dT%H:%M:%S.%gZ')"
    if source.startswith("header:"):
        name = sql_string(source[len("header:"):])
        return f"try(decode(list_filter(headers, lambda h: h.key = {name})[-1].value))"
    return f"_value[{value_paths.index(source) + 1}]"


# A decimal integer (optionally signed) that fits 64 bits; DuckDB's own cast would also take "3.5"
# (rounded to 4), "1e3" and "0x10", which no producer means as a sequence number or epoch time.
def _integer(raw: str) -> str:
    return f"CASE WHEN regexp_full_match({raw}, '[+-]?[0-9]+') THEN try_cast({raw} AS BIGINT) END"


# Typed value of a field from its raw text `raw_<name>`. event_time accepts epoch milliseconds
# (an integer) or ISO-8601 (no offset = UTC); trace_id reduces a W3C traceparent to its trace-id.
TYPED = {
    "event_id": "raw_event_id",
    "entity": "raw_entity",
    "event_time": f"coalesce(try(epoch_ms({_integer('raw_event_time')}))::TIMESTAMPTZ, try_cast(raw_event_time AS TIMESTAMPTZ))",
    "sequence": _integer("raw_sequence"),
    "event_type": "raw_event_type",
    "trace_id": "CASE WHEN regexp_full_match(raw_trace_id, '[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}') "
                "THEN split_part(raw_trace_id, '-', 2) ELSE raw_trace_id END",
}


def _decoded_columns(side: str, decoded: bool) -> tuple[str, str]:
    """(columns, join) giving `<side>_decoded` and `<side>_failure`: from the decode step's view
    where it decoded this side of these topics, else NULL."""
    if not decoded:
        return f", NULL::VARCHAR AS {side}_decoded, NULL::VARCHAR AS {side}_failure", ""
    view = "decoded_keys" if side == "key" else "decoded_values"
    return (f", {side}_d.decoded AS {side}_decoded, {side}_d.failure AS {side}_failure",
            f' LEFT JOIN {view} {side}_d ON {side}_d.cluster_id = r.cluster_id AND {side}_d.topic = r.topic '
            f'AND {side}_d.partition = r.partition AND {side}_d."offset" = r."offset"')


def event_fields_sql(sources: dict[str, str], key: Decoder, value: Decoder, where: str,
                     decoded: tuple[bool, bool] = (False, False)) -> str:
    """SELECT over `records` adding raw_<field> (text as found), key_undecodable and
    value_undecodable for one mapping and pair of decoders; the value is decoded once for all its
    paths. `decoded` says whether the decode step decoded keys and values of these topics."""
    value_paths = sorted({s for s in sources.values() if s.startswith("$")})
    extract, undecodable = "", "NULL::BOOLEAN"
    if value_paths:
        for path in value_paths:
            value.check_path(path, f"field source {path}")
        extract = f", {value.extract('value', value_paths)} AS _value"
        undecodable = "CASE WHEN value IS NULL THEN NULL ELSE _value IS NULL END"
    raws = ", ".join(
        f"{_raw_expression(sources[name], value_paths, key) if name in sources else 'NULL::VARCHAR'} AS raw_{name}"
        for name in FIELDS
    )
    key_columns, key_join = _decoded_columns("key", decoded[0])
    value_columns, value_join = _decoded_columns("value", decoded[1])
    records = f"SELECT r.*{key_columns}{value_columns} FROM (SELECT * FROM records WHERE {where}) r{key_join}{value_join}"
    key_undecodable = f"CASE WHEN key IS NULL THEN NULL ELSE {key.extract('key', ['$'])} IS NULL END"
    columns = "cluster_id, topic, partition, \"offset\", timestamp, timestamp_type, key, key_text, value, headers, value_size, hash(key, value) AS content_hash"
    return (f"SELECT {columns}, {key_undecodable} AS key_undecodable, {undecodable} AS value_undecodable, {raws} "
            f"FROM (SELECT *{extract} FROM ({records}))")
