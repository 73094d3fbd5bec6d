"""Event fields of every record, read from the sources docs/analysis.md defines ("Event fields").

A source is `key` (UTF-8 text, else `base64:` + base64), `timestamp` (event_time only), `header:<n>`
(the last header of that name, as UTF-8) or a JSON path into the value. `raw` keeps the text as
found (what field_coverage counts as present or missing); the typed value is None where the text
cannot be converted (field_coverage's "unparseable").
"""
from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone

from .stream import Record, Stream

FIELDS = ("event_id", "entity", "event_time", "sequence", "event_type", "trace_id")
INTEGER = re.compile(r"[+-]?[0-9]+")
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
PATH_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]")


@dataclass(frozen=True)
class Event:
    """A record with its event fields. `event_time` is epoch ms; `value_is_json` is None for a null value."""

    record: Record
    raw: dict[str, str | None]
    value_is_json: bool | None
    event_id: str | None
    entity: str | None
    event_time: int | None
    sequence: int | None
    event_type: str | None
    trace_id: str | None

    def __getattr__(self, name: str):  # record columns read as event columns: e.topic, e.offset, ...
        return getattr(self.record, name)


def utf8(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def key_text(key: bytes | None) -> str | None:
    """The `key` source: UTF-8 text where valid, else `base64:...`; None for a null key."""
    if key is None:
        return None
    text = utf8(key)
    return text if text is not None else "base64:" + base64.b64encode(key).decode()


def parse_json(value: bytes | None) -> tuple[bool | None, object]:
    """(is JSON, the parsed document) for a record value; (None, None) for a null value."""
    if value is None:
        return None, None
    text = utf8(value)
    if text is None:
        return False, None
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def json_text(document: object, path: str) -> str | None:
    """The value at `$.a.b` / `$.a[0]` as text: strings as they are, other JSON as compact JSON text."""
    node = document
    for name, index in PATH_STEP.findall(path[1:]):
        if name and isinstance(node, dict) and name in node:
            node = node[name]
        elif index and isinstance(node, list) and int(index) < len(node):
            node = node[int(index)]
        else:
            return None
    if node is None:
        return None
    if isinstance(node, str):
        return node
    if isinstance(node, bool):
        return "true" if node else "false"
    return json.dumps(node, separators=(",", ":"))


def raw_value(record: Record, source: str, document: object) -> str | None:
    if source == "key":
        return key_text(record.key)
    if source == "timestamp":
        return iso_ms(record.timestamp)
    if source.startswith("header:"):
        name = source[len("header:"):]
        values = [value for key, value in record.headers if key == name]
        return utf8(values[-1]) if values else None
    return json_text(document, source)


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def integer(text: str | None) -> int | None:
    """A decimal integer that fits 64 bits, optionally signed; anything else (3.5, 1e3, 0x10) is not one."""
    if text is None or not INTEGER.fullmatch(text):
        return None
    number = int(text)
    return number if -2**63 <= number < 2**63 else None


def epoch_ms(text: str | None) -> int | None:
    """event_time: epoch milliseconds (an integer), or ISO-8601 (no offset = UTC), to the millisecond."""
    if text is None:
        return None
    if INTEGER.fullmatch(text):  # beyond DuckDB's microsecond timestamps: no time
        ms = integer(text)
        return ms if ms is not None and abs(ms) < 2**63 // 1000 else None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    delta = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400_000 + delta.seconds * 1000 + delta.microseconds // 1000)


def trace_id(text: str | None) -> str | None:
    match = TRACEPARENT.fullmatch(text) if text is not None else None
    return match.group(1) if match else text


def derive_event(record: Record, sources: dict[str, str]) -> Event:
    is_json, document = parse_json(record.value) if any(s.startswith("$") for s in sources.values()) else (None, None)
    raw = {name: raw_value(record, sources[name], document) if name in sources else None for name in FIELDS}
    return Event(
        record=record, raw=raw, value_is_json=is_json,
        event_id=raw["event_id"], entity=raw["entity"], event_time=epoch_ms(raw["event_time"]),
        sequence=integer(raw["sequence"]), event_type=raw["event_type"], trace_id=trace_id(raw["trace_id"]),
    )


def derive_events(stream: Stream) -> list[Event]:
    """Every record of the stream with its event fields, in (cluster, topic, partition, offset) order."""
    records = sorted(stream.records, key=lambda r: (r.cluster_id, r.topic, r.partition, r.offset))
    return [derive_event(record, stream.fields.get(record.topic, {})) for record in records]
