"""A dump's plan: per partition, the watermarks and the exact range [start, end) to read, resolved
against the cluster before anything is read, and the table a person checks it in."""
from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError as RdKafkaError

from .._text import utc_now
from ..errors import OffsetOutOfRange, UnknownTopic, UsageError
from .connection import Connection, describe_error
from .ranges import PositionSpec, TopicSelector


@dataclass
class PartitionPlan:
    """What a dump reads of one partition: the request, the watermarks and the resolved [start, end)."""

    topic: str
    partition: int
    request: dict
    low: int
    high: int
    start: int
    end: int
    read: list[list[int]] = field(default_factory=list)  # sub-intervals not yet in the dataset
    note: str = ""
    end_fixed_at: str | None = None  # when the watermarks were read and the end fixed (UTC, ISO-8601)

    @property
    def max_records(self) -> int:
        return sum(e - s for s, e in self.read)


def resolve_plan(conn: Connection, metadata, selectors: list[TopicSelector], start_spec: PositionSpec,
                  end_spec: PositionSpec) -> list[PartitionPlan]:
    chosen: dict[tuple[str, int], TopicSelector] = {}
    for selector in selectors:
        if selector.pattern is None:
            topic_meta = metadata.topics.get(selector.name)
            if topic_meta is None:
                topic_meta = conn.metadata(selector.name).topics.get(selector.name)
            if topic_meta is None or topic_meta.error is not None:
                err = topic_meta.error if topic_meta is not None else None
                if err is not None and err.code() != RdKafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise describe_error(err, selector.name, None, "describe")
                raise UnknownTopic(f"topic {selector.name!r} does not exist on this cluster")
            names = [selector.name]
        else:
            names = sorted(t for t in metadata.topics if selector.matches(t) and not t.startswith("__"))
            if not names:
                raise UnknownTopic(f"no topic matches {selector.text}")
        for name in names:
            available = set(metadata.topics[name].partitions) if name in metadata.topics else set(
                conn.metadata(name).topics[name].partitions)
            wanted = selector.partitions if selector.partitions is not None else available
            missing = sorted(wanted - available)
            if missing:
                raise UnknownTopic(
                    f"topic {name!r} has partitions 0-{max(available)}; no partition {', '.join(map(str, missing))}"
                )
            for partition in sorted(wanted):
                chosen[(name, partition)] = selector
    for topic, partition in list(start_spec.overrides) + list(end_spec.overrides):
        if (topic, partition) not in chosen:
            raise UsageError(f"position override for {topic}:{partition}, which is not among the dumped partitions")
    return [_resolve_partition(conn, t, p, start_spec, end_spec) for t, p in sorted(chosen)]


def _resolve_partition(conn: Connection, topic: str, partition: int, start_spec: PositionSpec,
                       end_spec: PositionSpec) -> PartitionPlan:
    low, high = conn.watermarks(topic, partition)
    end_fixed_at = utc_now()
    start_pos, end_pos = start_spec.for_partition(topic, partition), end_spec.for_partition(topic, partition)
    where = f"{topic}[{partition}]"
    notes = []

    def resolve(pos, what: str) -> int:
        if pos.kind == "beginning":
            return low
        if pos.kind == "end":
            return high
        if pos.kind == "last":
            return max(low, high - pos.value)
        if pos.kind == "timestamp":
            found = conn.offsets_for_time(topic, partition, pos.value)
            return high if found is None else found
        if pos.value > high:
            notes.append(f"{what} {pos.value} clamped to end offset {high}")
            return high
        return pos.value

    start, end = resolve(start_pos, "start"), resolve(end_pos, "end")
    if start < low:
        raise OffsetOutOfRange(
            f"{where}: start offset {start} is below the low watermark {low}: {low - start:,} offsets were "
            f"already deleted (retention or compaction); start at {low} or 'beginning'"
        )
    if end < start:
        raise UsageError(f"{where}: end {_described(end, end_pos.text)} is before start {_described(start, start_pos.text)}")
    return PartitionPlan(topic=topic, partition=partition,
                         request={"start": start_pos.text, "end": end_pos.text},
                         low=low, high=high, start=start, end=end, note="; ".join(notes), end_fixed_at=end_fixed_at)


def _described(offset: int, text: str) -> str:
    return str(offset) if text == str(offset) else f"{offset} ({text})"


def format_plan(plans: list[PartitionPlan], *, isolation: str, resumed: bool = False) -> str:
    """The plan as a table a person can check before anything is read."""
    header = ("topic", "part", "request", "low", "end", "range [start, end)", "to read")
    rows = [
        (p.topic, str(p.partition), f"{p.request['start']} .. {p.request['end']}", str(p.low), str(p.high),
         f"[{p.start}, {p.end})", f"{p.max_records:,}" + (f"  ({p.note})" if p.note else ""))
        for p in plans
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    total = sum(p.max_records for p in plans)
    title = "resuming plan" if resumed else "plan"
    end_kind = "last stable offset" if isolation == "read_committed" else "high watermark"
    lines.insert(0, f"{title} ({isolation}; end = {end_kind}; at most {total:,} records to read):")
    return "\n".join(lines)


def restored_plan(saved: dict, started_at: str) -> PartitionPlan:
    """A plan from an unfinished run's manifest. One written before evkit recorded `end_fixed_at` was
    resolved just before that run's `started_at`, which stands in for it."""
    plan = PartitionPlan(**{k: saved[k] for k in PartitionPlan.__dataclass_fields__ if k in saved})
    plan.end_fixed_at = plan.end_fixed_at or started_at
    return plan


