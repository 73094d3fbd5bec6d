"""duplicate, offset_gap, silence, out_of_order and field_coverage, as docs/analysis.md defines them,
by plain loops over the stream's records and manifest rows.

Each function returns the check's findings as `Finding` tuples. Where the docs leave a choice open,
the model makes the one evkit's SQL makes (so that the differential test can compare sets):

* Which key a finding carries: DuckDB's arg_min/arg_max skip NULL keys, so where the SQL picks
  "the key of the first record" it is the first *non-null* key in that order (None if all are null).
* duplicate: copies are numbered by broker time, then partition, then offset (copy 1 is the
  original); a finding's key is copy 1's (first non-null) key, its offsets are every copy's offset
  in copy order, its partition is the copies' partition when they all share one, else None. Copies are
  of one cluster (a mirror's copy is not a duplicate). A re-publication burst is the later copies (copy 2, 3,
  ...) of one cluster's partition in offset order, cut wherever two neighbours are more than
  `burst_window_ms` apart; its key is that of its lowest offset (non-null), its offsets ascending.
* offset_gap: a finding's key is the key of the record just before the gap (offset gap_start - 1)
  where the dataset holds it, else None; offsets are [first, last] missing offset. Holes between
  dumps are found as the SQL does: manifest rows ordered by (start, end), a hole wherever the next
  row starts past the highest end so far (an empty range, start = end, inside a hole splits it).
* silence: consecutive events of a partition in (broker time, offset) order, of an entity (per
  cluster and topic) in (event time else broker time, partition, offset) order; the key is that of
  the event after the silence, offsets [before, after], partition None when the two events are in
  different partitions.
* out_of_order: the key is the late record's own, offsets [offset]. A split entity's offsets are
  the first offset in each of its partitions, by partition; its key is the key of the first record
  (by offset, non-null) of the partition whose earliest broker timestamp is lowest (among the
  partitions with a non-null key).
* field_coverage: per topic (over all clusters), for topics that have records.

Where the docs and the SQL disagreed, the SQL was fixed to the docs: re-publication neighbours are
compared by absolute time difference; the skipped intervals of several dumps of a partition are
merged, so a gap seen by several dumps is one gap (one finding, one piece of transaction evidence);
an exact duplicate is the same key and value *bytes*; silence thresholds are compared exactly, not
in floating point; a split entity's key is deterministic (ties in earliest broker time go to the
lowest partition). A topic whose configs no manifest recorded (hand-edited manifests only) still
gets the transaction heuristic here, while the SQL calls all its gaps unexplained.
"""
from __future__ import annotations

from collections import defaultdict
from fractions import Fraction

from .events import Event, derive_events
from .stream import DumpedRange, Finding, Record, Stream


def first_key(events) -> bytes | None:
    """The first non-null key of events in the given order: DuckDB's arg_min(key, ...) skips the rows
    whose key is NULL, so a finding's key is NULL only when every candidate's key is."""
    return next((e.key for e in events if e.key is not None), None)


# --- duplicate -----------------------------------------------------------------------------------

def copy_order(event: Event) -> tuple:
    # (timestamp, partition, offset) is the SQL's order; cluster only breaks ties between mirrored
    # copies at the same position of two clusters (there the SQL's row_number is arbitrary).
    return (event.timestamp, event.partition, event.offset, event.cluster_id)


def duplicate_groups(events: list[Event]) -> list[list[Event]]:
    """Every duplicated event's copies in copy order: logical (same topic and event_id) and exact
    (same topic, key bytes and value bytes, for records without an event_id; tombstones excluded)."""
    groups: dict[tuple, list[Event]] = defaultdict(list)
    for event in events:
        if event.event_id is not None:
            groups[("logical", event.cluster_id, event.topic, event.event_id)].append(event)
        elif event.value is not None:
            groups[("exact", event.cluster_id, event.topic, event.key, event.value)].append(event)
    return [sorted(copies, key=copy_order) for copies in groups.values() if len(copies) > 1]


def duplicate(stream: Stream) -> set[Finding]:
    burst_min = stream.param("duplicate", "burst_min", 10)
    window_ms = stream.param("duplicate", "burst_window_ms", 60000)
    findings = set()
    later: dict[tuple, list[Event]] = defaultdict(list)
    for copies in duplicate_groups(derive_events(stream)):
        partitions = {e.partition for e in copies}
        findings.add(Finding("duplicate", "warning", copies[0].topic,
                             copies[0].partition if len(partitions) == 1 else None, first_key(copies),
                             tuple(e.offset for e in copies)))
        for copy in copies[1:]:
            later[(copy.cluster_id, copy.topic, copy.partition)].append(copy)
    for copies in later.values():
        copies.sort(key=lambda e: e.offset)
        bursts: list[list[Event]] = []
        for copy in copies:
            # docs: "at most burst_window_ms between neighbours" -- a time difference either way.
            # The SQL cuts only when the later neighbour is > window_ms *after* the earlier one.
            if bursts and abs(copy.timestamp - bursts[-1][-1].timestamp) <= window_ms:
                bursts[-1].append(copy)
            else:
                bursts.append([copy])
        for burst in bursts:
            if len(burst) >= burst_min:
                findings.add(Finding("duplicate", "warning", burst[0].topic, burst[0].partition, first_key(burst),
                                     tuple(e.offset for e in burst)))
    return findings


# --- offset_gap ----------------------------------------------------------------------------------

def record_index(stream: Stream) -> dict[tuple[str, str, int, int], Record]:
    return {(r.cluster_id, r.topic, r.partition, r.offset): r for r in stream.records}


def key_before(records: dict, cluster_id: str, topic: str, partition: int, gap_start: int) -> bytes | None:
    record = records.get((cluster_id, topic, partition, gap_start - 1))
    return None if record is None else record.key


def merged_gaps(stream: Stream) -> dict[tuple[str, str, int], list[tuple[int, int, bool]]]:
    """(cluster, topic, partition) -> its gaps [start, end) with `ends_range`: the skipped intervals of
    all its dumps, merged where they overlap or touch (a gap seen by several dumps is one gap);
    ends_range when some dump's range ended in one of the merged intervals."""
    intervals: dict[tuple[str, str, int], list[tuple[int, int, bool]]] = defaultdict(list)
    for dumped in stream.ranges:
        for gap_start, gap_end in dumped.skipped:
            intervals[(dumped.cluster_id, dumped.topic, dumped.partition)].append(
                (gap_start, gap_end, gap_end == dumped.end))
    merged: dict[tuple[str, str, int], list[tuple[int, int, bool]]] = {}
    for place, parts in intervals.items():
        gaps: list[list] = []
        for gap_start, gap_end, ends_range in sorted(parts):
            if gaps and gap_start <= gaps[-1][1]:
                gaps[-1][1] = max(gaps[-1][1], gap_end)
                gaps[-1][2] = gaps[-1][2] or ends_range
            else:
                gaps.append([gap_start, gap_end, ends_range])
        merged[place] = [tuple(gap) for gap in gaps]
    return merged


def shows_transaction_markers(stream: Stream, gaps: dict, cluster_id: str, topic: str) -> bool:
    """The transaction heuristic: the config's `transactional`, else some dumped range of the topic
    ends in a skipped interval, or the topic has at least two single-offset gaps."""
    override = stream.transactional.get(topic)
    if override is not None:
        return override
    topic_gaps = [gap for (c, t, _), parts in gaps.items() if (c, t) == (cluster_id, topic) for gap in parts]
    return any(ends_range for _, _, ends_range in topic_gaps) or sum(e - s == 1 for s, e, _ in topic_gaps) >= 2


def compacted(stream: Stream, cluster_id: str, topic: str) -> bool:
    policy = None
    for info in stream.topics:  # the last description of the topic wins, as in evkit's topics view
        if (info.cluster_id, info.topic) == (cluster_id, topic):
            policy = info.configs.get("cleanup.policy")
    return "compact" in (policy or "")


def uncovered_holes(ranges: list[DumpedRange]) -> list[tuple[int, int]]:
    """Holes [start, end) between the ranges of one partition: ranges in (start, end) order, a hole
    where the next range starts beyond everything covered so far."""
    ordered = sorted(ranges, key=lambda r: (r.start, r.end))
    holes = []
    covered_to = None
    for dumped, following in zip(ordered, ordered[1:]):
        covered_to = dumped.end if covered_to is None else max(covered_to, dumped.end)
        if following.start > covered_to:
            holes.append((covered_to, following.start))
    return holes


def offset_gap(stream: Stream) -> set[Finding]:
    """Skipped intervals judged `unexplained` (warning) and holes between dumps (`retention` or
    `not_dumped`, both info); compaction and transaction gaps are not reported."""
    records = record_index(stream)
    findings = set()
    gaps = merged_gaps(stream)
    skipped = [(*place, gap_start, gap_end) for place, parts in gaps.items() for gap_start, gap_end, _ in parts]
    for cluster_id, topic, partition, gap_start, gap_end in skipped:
        if compacted(stream, cluster_id, topic) or shows_transaction_markers(stream, gaps, cluster_id, topic):
            continue
        findings.add(Finding("offset_gap", "warning", topic, partition,
                             key_before(records, cluster_id, topic, partition, gap_start), (gap_start, gap_end - 1)))
    by_partition: dict[tuple, list[DumpedRange]] = defaultdict(list)
    for dumped in stream.ranges:
        by_partition[(dumped.cluster_id, dumped.topic, dumped.partition)].append(dumped)
    for (cluster_id, topic, partition), ranges in by_partition.items():
        # retention (below the later dump's low watermark) or not_dumped: info either way
        for gap_start, gap_end in uncovered_holes(ranges):
            findings.add(Finding("offset_gap", "info", topic, partition,
                                 key_before(records, cluster_id, topic, partition, gap_start), (gap_start, gap_end - 1)))
    return findings


# --- silence -------------------------------------------------------------------------------------

def silences(events: list[Event], time, factor: Fraction, min_events: float, min_ms: float) -> list[tuple[Event, Event]]:
    """(before, after) pairs of consecutive events (already in order) quiet for longer than min_ms
    and than factor x the group's mean interval ((last - first) / (events - 1))."""
    if len(events) < min_events or not events:
        return []
    times = [time(e) for e in events]
    span, intervals = max(times) - min(times), max(len(events) - 1, 1)
    found = []
    for before, after in zip(events, events[1:]):
        quiet = time(after) - time(before)
        if quiet > min_ms and quiet * intervals > factor * span:  # quiet > factor * span / intervals
            found.append((before, after))
    return found


def silence(stream: Stream) -> set[Finding]:
    factor = Fraction(stream.param("silence", "factor", 20))
    min_events = stream.param("silence", "min_events", 20)
    min_ms = stream.param("silence", "min_ms", 1000)
    events = derive_events(stream)
    by_partition: dict[tuple, list[Event]] = defaultdict(list)
    by_entity: dict[tuple, list[Event]] = defaultdict(list)
    for event in events:
        by_partition[(event.cluster_id, event.topic, event.partition)].append(event)
        if event.entity is not None:
            by_entity[(event.cluster_id, event.topic, event.entity)].append(event)
    findings = set()

    def broker_time(e: Event) -> int:
        return e.timestamp

    def entity_time(e: Event) -> int:  # event time, else broker time (as the SQL; the docs say "by event time")
        return e.event_time if e.event_time is not None else e.timestamp

    for group in by_partition.values():
        group.sort(key=lambda e: (e.timestamp, e.offset))
        for before, after in silences(group, broker_time, factor, min_events, min_ms):
            findings.add(Finding("silence", "warning", after.topic, after.partition, after.key, (before.offset, after.offset)))
    for group in by_entity.values():
        group.sort(key=lambda e: (entity_time(e), e.partition, e.offset))
        for before, after in silences(group, entity_time, factor, min_events, min_ms):
            partition = after.partition if before.partition == after.partition else None
            findings.add(Finding("silence", "warning", after.topic, partition, after.key, (before.offset, after.offset)))
    return findings


# --- out_of_order --------------------------------------------------------------------------------

def out_of_order(stream: Stream) -> set[Finding]:
    """Late events (entity scope: warning, partition scope: info) and entities split over partitions."""
    tolerance_ms = stream.param("out_of_order", "tolerance_ms", 0)
    events = derive_events(stream)
    by_partition: dict[tuple, list[Event]] = defaultdict(list)
    for event in events:
        if event.event_time is not None:
            by_partition[(event.cluster_id, event.topic, event.partition)].append(event)
    findings = set()
    for group in by_partition.values():
        group.sort(key=lambda e: e.offset)
        latest = None  # the latest event time so far in the partition
        latest_of: dict[str, int] = {}  # ... of each entity
        for event in group:
            latest = event.event_time if latest is None else max(latest, event.event_time)
            if event.entity is not None:
                latest_of[event.entity] = max(latest_of.get(event.entity, event.event_time), event.event_time)
            if latest - event.event_time <= tolerance_ms:
                continue
            entity_late = event.entity is not None and latest_of[event.entity] - event.event_time > tolerance_ms
            findings.add(Finding("out_of_order", "warning" if entity_late else "info", event.topic, event.partition,
                                 event.key, (event.offset,)))
    by_entity: dict[tuple, dict[int, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for event in events:
        if event.entity is not None:
            by_entity[(event.cluster_id, event.topic, event.entity)][event.partition].append(event)
    for (_, topic, _), partitions in by_entity.items():
        if len(partitions) < 2:
            continue
        for group in partitions.values():
            group.sort(key=lambda e: e.offset)
        keys = {p: first_key(group) for p, group in partitions.items()}  # arg_min(key, "offset") per partition
        earliest = {p: min(e.timestamp for e in group) for p, group in partitions.items()}
        # SQL: arg_min(key, first_ts) over the partitions (NULL keys skipped) -- ties in the earliest
        # broker time are arbitrary there; here the lowest partition wins.
        keyed = [p for p in partitions if keys[p] is not None]
        key = keys[min(keyed, key=lambda p: (earliest[p], p))] if keyed else None
        findings.add(Finding("out_of_order", "warning", topic, None, key,
                             tuple(partitions[p][0].offset for p in sorted(partitions))))
    return findings


# --- field_coverage ------------------------------------------------------------------------------

def field_coverage(stream: Stream) -> set[Finding]:
    """One info finding per topic and analyst-chosen field that some record lacks (no value found)
    or holds unconvertibly (a value found whose typed form is None)."""
    by_topic: dict[str, list[Event]] = defaultdict(list)
    for event in derive_events(stream):
        by_topic[event.topic].append(event)
    findings = set()
    for topic, events in by_topic.items():
        sources = stream.fields.get(topic, {})
        for name in sorted(stream.explicit.get(topic, set())):
            if name not in sources:
                continue
            missing = sum(1 for e in events if e.raw[name] is None)
            unparseable = sum(1 for e in events if e.raw[name] is not None and getattr(e, name) is None)
            if missing or unparseable:
                findings.add(Finding("field_coverage", "info", topic, None, None, ()))
    return findings
