"""sequence_gap and sequence_regression, as docs/analysis.md defines them, by plain loops.

Gap: an entity's events of one topic in sequence order (copies of one sequence by broker time, then
offset, then partition); consecutive seen sequences s < t with t > s + 1 leave s+1..t-1 missing.
`lost` (error) when the later event t was written more than `unseen_ms` before the moment the dump
fixed the end offsets of t's partition (the latest such moment over the dumps of that partition;
the partition's last record where no dump recorded it), else `unseen` (info).
Regression: within one partition, in offset order, an entity's sequence lower than the one before.
"""
from __future__ import annotations

from collections import defaultdict

from .events import Event, derive_events
from .stream import Finding, Stream


def partition_moments(stream: Stream) -> dict[tuple[str, str, int], int]:
    """(cluster, topic, partition) -> when the dumps last fixed its end offsets (epoch ms)."""
    moments: dict[tuple[str, str, int], int] = {}
    for dumped in stream.ranges:
        place = (dumped.cluster_id, dumped.topic, dumped.partition)
        if dumped.end_fixed_at is not None:
            moments[place] = max(moments.get(place, dumped.end_fixed_at), dumped.end_fixed_at)
    recorded = set(moments)
    for record in stream.records:  # no recorded moment: judge against the partition's last record
        place = (record.cluster_id, record.topic, record.partition)
        if place not in recorded:
            moments[place] = max(moments.get(place, record.timestamp), record.timestamp)
    return moments


def sequenced(events: list[Event]) -> list[Event]:
    return [e for e in events if e.sequence is not None and e.entity is not None]


def sequence_gap(stream: Stream) -> set[Finding]:
    unseen_ms = stream.param("sequence_gap", "unseen_ms", 10000)
    moments = partition_moments(stream)
    by_entity: dict[tuple, list[Event]] = defaultdict(list)
    for event in sequenced(derive_events(stream)):
        by_entity[(event.cluster_id, event.topic, event.entity)].append(event)
    findings = set()
    for events in by_entity.values():
        events.sort(key=lambda e: (e.sequence, e.timestamp, e.offset, e.partition))
        for before, after in zip(events, events[1:]):
            if after.sequence <= before.sequence + 1:
                continue
            moment = moments[(after.cluster_id, after.topic, after.partition)]
            severity = "error" if moment - after.timestamp > unseen_ms else "info"
            partition = after.partition if before.partition == after.partition else None
            findings.add(Finding("sequence_gap", severity, after.topic, partition, after.key,
                                 (before.offset, after.offset)))
    return findings


def sequence_regression(stream: Stream) -> set[Finding]:
    by_partition: dict[tuple, list[Event]] = defaultdict(list)
    for event in sequenced(derive_events(stream)):
        by_partition[(event.cluster_id, event.topic, event.partition, event.entity)].append(event)
    findings = set()
    for events in by_partition.values():
        events.sort(key=lambda e: e.offset)
        for previous, event in zip(events, events[1:]):
            if event.sequence < previous.sequence:
                findings.add(Finding("sequence_regression", "warning", event.topic, event.partition, event.key,
                                     (previous.offset, event.offset)))
    return findings
