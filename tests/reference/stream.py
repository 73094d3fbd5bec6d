"""The reference model's input: what a set of evkit datasets holds, as plain Python values."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple


class Finding(NamedTuple):
    """What the differential test compares: evkit's findings and the model's, as sets of these."""

    check: str
    severity: str
    topic: str
    partition: int | None
    key: bytes | None
    offsets: tuple[int, ...]


@dataclass(frozen=True)
class Record:
    """One Kafka record as a dataset stores it. `timestamp` is epoch milliseconds (broker time)."""

    cluster_id: str
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    timestamp_type: str = "create"


@dataclass(frozen=True)
class DumpedRange:
    """One manifest entry: what one dump run read of one partition.

    `skipped` are the half-open offset intervals of [start, end) that Kafka did not deliver;
    `end_fixed_at` is when the dump fixed its end offsets (epoch ms), None where not recorded.
    """

    cluster_id: str
    dataset: str
    run_id: str
    topic: str
    partition: int
    start: int
    end: int
    low_watermark: int
    isolation: str | None
    skipped: tuple[tuple[int, int], ...] = ()
    end_fixed_at: int | None = None
    high_watermark: int | None = None  # the partition's end when the dump fixed its own; None: = end


@dataclass(frozen=True)
class TopicInfo:
    """A topic as the dumps recorded it: partition count and configs (cleanup.policy, ...)."""

    cluster_id: str
    topic: str
    partition_count: int
    configs: dict[str, str] = field(default_factory=dict)


@dataclass
class Stream:
    """Everything the checks see. `records` holds each (cluster, topic, partition, offset) once.

    `fields[topic]` maps event field -> source (key, timestamp, header:<name>, $.json.path) after
    defaults are applied; `explicit[topic]` names the fields the analyst chose (field_coverage
    reports only those); `transactional[topic]` is the config's override (None: infer);
    `params[check][name]` overrides a check parameter's default; `rules` holds the config's rule
    tables as TOML gives them: {"rates": {name: {...}}, "flows": {...}, "rules": {...}} (docs/rules.md).
    """

    records: list[Record]
    ranges: list[DumpedRange]
    topics: list[TopicInfo]
    fields: dict[str, dict[str, str]]
    explicit: dict[str, set[str]] = field(default_factory=dict)
    transactional: dict[str, bool | None] = field(default_factory=dict)
    params: dict[str, dict[str, float | str]] = field(default_factory=dict)
    rules: dict[str, dict[str, dict]] = field(default_factory=dict)

    def param(self, check: str, name: str, default):
        return self.params.get(check, {}).get(name, default)
