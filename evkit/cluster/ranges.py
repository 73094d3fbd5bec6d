"""Parsing of what to dump: topic selectors and start/end positions, kcat-style, per partition.

Topic selectors (`--topic`, repeatable):
    orders              every partition of `orders`
    orders:0,3-5        partitions 0, 3, 4 and 5
    /orders\\..*/        every topic matching the regular expression (full match)
    /orders\\..*/:0-2    ... restricted to partitions 0-2

Positions (`--start`, `--end`; end is exclusive):
    beginning | end     the low / high watermark
    1234                an absolute offset
    -1000               1000 offsets before the end (last N per partition)
    2026-11-27T10:00:00Z, 2026-11-27T11:00:00+01:00
                        a timestamp with zone: the first offset whose timestamp is >= it
    @1764237600000      a timestamp in epoch milliseconds
    -2h, -30m, -45s, -1d
                        a time relative to now
A position can be overridden for one partition: `--start orders:3=1000`.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone

from ..errors import UsageError

_TOPIC_NAME = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_RELATIVE = re.compile(r"^-(\d+)(ms|s|m|h|d)$")
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_OVERRIDE = re.compile(r"^([A-Za-z0-9._-]+):(\d+)=(.*)$")


@dataclass(frozen=True)
class TopicSelector:
    """A topic name or a regular expression, and optionally a set of partitions (None = all)."""

    text: str
    name: str | None
    pattern: re.Pattern | None
    partitions: frozenset[int] | None

    def matches(self, topic: str) -> bool:
        return topic == self.name if self.pattern is None else bool(self.pattern.fullmatch(topic))


@dataclass(frozen=True)
class Position:
    """A parsed start or end position. kind: beginning | end | offset | last | timestamp."""

    text: str
    kind: str
    value: int = 0  # the offset, the N of "last N", or epoch milliseconds


def parse_partitions(text: str, where: str) -> frozenset[int]:
    partitions: set[int] = set()
    for part in text.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", part.strip())
        if not match:
            raise UsageError(f"{where}: bad partition list {text!r} (expected e.g. 0,3-5)")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) is not None else low
        if high < low:
            raise UsageError(f"{where}: partition range {part!r} goes backwards")
        if high - low > 100_000:
            raise UsageError(f"{where}: partition range {part!r} is implausibly large")
        partitions.update(range(low, high + 1))
    return frozenset(partitions)


def parse_topic(text: str) -> TopicSelector:
    """Parse one `--topic` value."""
    where = f"--topic {text!r}"
    if text.startswith("/"):
        closing = text.rfind("/")
        if closing == 0:
            raise UsageError(f"{where}: a regular expression must end with '/' (e.g. /orders.*/)")
        regex, rest = text[1:closing], text[closing + 1 :]
        try:
            with warnings.catch_warnings():  # e.g. "possible nested set": a hint for authors, noise here
                warnings.simplefilter("ignore", FutureWarning)
                pattern = re.compile(regex)
        except re.error as exc:
            raise UsageError(f"{where}: bad regular expression: {exc}") from None
        if rest and not rest.startswith(":"):
            raise UsageError(f"{where}: expected ':' and a partition list after the closing '/'")
        name, partition_list = None, rest[1:] if rest else None
    else:
        name, sep, partition_list = text.partition(":")
        if not _TOPIC_NAME.match(name):
            raise UsageError(f"{where}: not a valid topic name (letters, digits, '.', '_', '-')")
        pattern, partition_list = None, partition_list if sep else None
    partitions = parse_partitions(partition_list, where) if partition_list is not None else None
    return TopicSelector(text=text, name=name, pattern=pattern, partitions=partitions)


def parse_position(text: str | int, *, now_ms: int | None = None) -> Position:
    """Parse one start/end position (see the module docstring)."""
    raw = str(text).strip()
    where = f"position {raw!r}"
    if raw in ("beginning", "end"):
        return Position(raw, raw)
    if re.fullmatch(r"\d+", raw):
        return Position(raw, "offset", int(raw))
    if re.fullmatch(r"-\d+", raw):
        count = int(raw[1:])
        return Position(raw, "last", count)
    relative = _RELATIVE.match(raw)
    if relative:
        now = now_ms if now_ms is not None else int(datetime.now(timezone.utc).timestamp() * 1000)
        return _timestamp(raw, now - int(relative.group(1)) * _UNITS_MS[relative.group(2)])
    if re.fullmatch(r"@\d+", raw):
        return _timestamp(raw, int(raw[1:]))
    if re.match(r"^\d{4}-\d{2}-\d{2}", raw):
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
            if moment.tzinfo is None:
                raise UsageError(f"{where}: a timestamp needs a zone, e.g. {raw}Z or {raw}+01:00")
            return _timestamp(raw, int(moment.timestamp() * 1000))
        except (ValueError, OverflowError):
            raise UsageError(f"{where}: not a valid ISO-8601 timestamp") from None
    raise UsageError(
        f"{where}: expected beginning, end, an offset, -N (last N), an ISO-8601 timestamp with zone, "
        "@epoch-ms or a relative time like -2h"
    )


def _timestamp(raw: str, epoch_ms: int) -> Position:
    """A timestamp position. Kafka reads the times -1 and -2 as 'latest' and 'earliest', and librdkafka
    takes only 64-bit times, so a time before 1970 or past the year 292 million is refused."""
    if not 0 <= epoch_ms < 2**63:
        raise UsageError(f"position {raw!r}: the time is before 1970-01-01T00:00:00Z or too far in the future")
    return Position(raw, "timestamp", epoch_ms)


@dataclass(frozen=True)
class PositionSpec:
    """A default position plus per-partition overrides {(topic, partition): Position}."""

    default: Position
    overrides: dict[tuple[str, int], Position]

    def for_partition(self, topic: str, partition: int) -> Position:
        return self.overrides.get((topic, partition), self.default)


def parse_position_spec(values: str | int | list | tuple | None, default: str, *, now_ms: int | None = None,
                        option: str = "--start") -> PositionSpec:
    """Parse the values of a repeatable --start/--end: at most one default and any `topic:p=POS` overrides."""
    if values is None:
        values = []
    elif isinstance(values, (str, int)):
        values = [values]
    chosen: Position | None = None
    overrides: dict[tuple[str, int], Position] = {}
    for value in values:
        match = _OVERRIDE.match(str(value))
        if match:
            topic, partition = match.group(1), int(match.group(2))
            overrides[(topic, partition)] = parse_position(match.group(3), now_ms=now_ms)
        elif chosen is not None:
            raise UsageError(f"{option} given twice ({chosen.text!r} and {value!r}); "
                             f"override one partition with {option} TOPIC:PARTITION=POSITION")
        else:
            chosen = parse_position(value, now_ms=now_ms)
    return PositionSpec(chosen or parse_position(default), overrides)

