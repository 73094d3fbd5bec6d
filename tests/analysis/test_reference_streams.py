"""The reference model's duplicate, offset_gap, silence, out_of_order and field_coverage checks
(tests/reference/streams.py) on small hand-made streams with exactly known findings."""
from __future__ import annotations

import json

from reference import streams
from reference.stream import DumpedRange, Finding, Record, Stream, TopicInfo

T0 = 1_700_000_000_000
DEFAULTS = {"entity": "key", "event_time": "timestamp", "trace_id": "header:traceparent"}


def rec(partition: int, offset: int, ts: int, key: bytes | None = b"k", value: bytes | None = b"v",
        topic: str = "t", cluster: str = "c") -> Record:
    return Record(cluster, topic, partition, offset, T0 + ts, key, value)


def dumped(partition: int, start: int, end: int, skipped=(), low: int | None = None, topic: str = "t",
           run: str = "r0") -> DumpedRange:
    return DumpedRange("c", "d", run, topic, partition, start, end, start if low is None else low, None, tuple(skipped))


def stream(records, ranges=(), fields=None, explicit=None, configs=None, transactional=None, params=None) -> Stream:
    topics = sorted({r.topic for r in records} | {r.topic for r in ranges})
    return Stream(records=list(records), ranges=list(ranges),
                  topics=[TopicInfo("c", t, 4, (configs or {}).get(t, {})) for t in topics],
                  fields={t: {**DEFAULTS, **(fields or {})} for t in topics},
                  explicit={t: set(explicit or fields or ()) for t in topics},
                  transactional=transactional or {}, params=params or {})


def finding(check, severity, partition, key, *offsets, topic="t") -> Finding:
    return Finding(check, severity, topic, partition, key, tuple(offsets))


# --- duplicate -----------------------------------------------------------------------------------

def test_logical_duplicate_lists_copies_by_broker_time_with_the_first_non_null_key():
    records = [rec(1, 5, 100, key=None, value=b'{"id": "e1"}'), rec(0, 9, 300, key=b"b", value=b'{"id": "e1", "x": 1}'),
               rec(0, 2, 200, key=b"a", value=b'{"id": "e1"}'), rec(0, 3, 250, value=b'{"id": "e2"}')]
    found = streams.duplicate(stream(records, fields={"event_id": "$.id"}))
    assert found == {finding("duplicate", "warning", None, b"a", 5, 2, 9)}


def test_exact_duplicates_need_equal_key_and_value_bytes_and_skip_tombstones_and_event_ids():
    records = [rec(0, 0, 0, key=None, value=b"v"), rec(0, 1, 1, key=None, value=b"v"),
               rec(0, 2, 2, key=b"(null)", value=b"v"), rec(0, 3, 3, key=b"(null)", value=b"v"),
               rec(0, 4, 4, key=b"k", value=None), rec(0, 5, 5, key=b"k", value=None),      # tombstones
               rec(1, 0, 6, key=b"j", value=b'{"id": 1}'), rec(1, 1, 7, key=b"j", value=b'{"id": 2}')]  # ids differ
    found = streams.duplicate(stream(records, fields={"event_id": "$.id"}))
    assert found == {finding("duplicate", "warning", 0, None, 0, 1), finding("duplicate", "warning", 0, b"(null)", 2, 3)}


def test_republication_burst_of_later_copies_is_cut_where_neighbours_are_far_apart_either_way():
    originals = [rec(0, o, o, key=b"k%d" % o, value=b"v%d" % o) for o in range(4)]
    copies = [rec(0, 10 + o, 500_000 + o, key=b"k%d" % o, value=b"v%d" % o) for o in range(4)]
    copies[3] = rec(0, 13, 500_000 - 120_000, key=b"k3", value=b"v3")  # 2 minutes *before* its neighbour
    found = streams.duplicate(stream(originals + copies, params={"duplicate": {"burst_min": 3}}))
    pairs = {finding("duplicate", "warning", 0, b"k%d" % o, o, 10 + o) for o in range(4)}
    assert found == pairs | {finding("duplicate", "warning", 0, b"k0", 10, 11, 12)}


# --- offset_gap ----------------------------------------------------------------------------------

def delivered(skipping, end=20, partition=0):
    return [rec(partition, o, o, key=b"k%d" % o) for o in range(end) if o not in skipping]


def test_unexplained_gaps_carry_the_key_of_the_record_before():
    records = delivered({0, 1, 5, 10, 11, 12})
    ranges = [dumped(0, 0, 20, skipped=[(0, 2), (5, 6), (10, 13)])]
    assert streams.offset_gap(stream(records, ranges)) == {
        finding("offset_gap", "warning", 0, None, 0, 1), finding("offset_gap", "warning", 0, b"k4", 5, 5),
        finding("offset_gap", "warning", 0, b"k9", 10, 12)}


def test_transaction_evidence_compaction_and_the_config_override():
    records = delivered({5, 10, 11, 12})
    ends_in_gap = [dumped(0, 0, 22, skipped=[(5, 6), (10, 13), (20, 22)])]
    assert streams.offset_gap(stream(records, ends_in_gap)) == set()
    assert streams.offset_gap(stream(records, ends_in_gap, transactional={"t": False})) == {
        finding("offset_gap", "warning", 0, b"k4", 5, 5), finding("offset_gap", "warning", 0, b"k9", 10, 12),
        finding("offset_gap", "warning", 0, b"k19", 20, 21)}
    plain = [dumped(0, 0, 20, skipped=[(5, 6), (10, 13)])]
    assert streams.offset_gap(stream(records, plain, transactional={"t": True})) == set()
    assert streams.offset_gap(stream(records, plain, configs={"t": {"cleanup.policy": "compact,delete"}})) == set()
    two_singles = [dumped(0, 0, 20, skipped=[(5, 6), (9, 10)]), dumped(1, 0, 5)]
    assert streams.offset_gap(stream(delivered({5, 9}), two_singles)) == set()


def test_one_single_offset_gap_seen_by_two_dumps_is_one_gap():
    ranges = [dumped(0, 0, 10, skipped=[(5, 6)], run="r0"), dumped(0, 0, 12, skipped=[(5, 6)], run="r1")]
    assert streams.offset_gap(stream(delivered({5}, end=12), ranges)) == {finding("offset_gap", "warning", 0, b"k4", 5, 5)}


def test_holes_between_dumps_are_info_and_an_empty_range_splits_a_hole():
    records = [rec(0, o, o, key=b"k%d" % o) for o in [*range(10), *range(20, 30), *range(40, 50)]]
    ranges = [dumped(0, 0, 10, run="r0"), dumped(0, 20, 30, low=25, run="r1"), dumped(0, 40, 50, run="r2"),
              dumped(0, 15, 15, run="r3"), dumped(0, 5, 8, run="r4")]
    assert streams.offset_gap(stream(records, ranges)) == {
        finding("offset_gap", "info", 0, b"k9", 10, 14), finding("offset_gap", "info", 0, None, 15, 19),
        finding("offset_gap", "info", 0, b"k29", 30, 39)}


# --- silence -------------------------------------------------------------------------------------

def test_partition_and_entity_silences():
    # partition 0: 25 events 100 ms apart, then 100 s of silence, then 5 more; entity "a" has its
    # events in partitions 0 and 1, silent across the partition change.
    records = [rec(0, o, o * 100 + (100_000 if o >= 25 else 0), key=b"p") for o in range(30)]
    records += [rec(0, 30 + o, 200_000 + o * 100, key=b"a") for o in range(20)]
    records += [rec(1, o, 400_000 + o * 100, key=b"a") for o in range(5)]
    records += [rec(1, 5 + o, 400_500 + o * 100, key=b"few") for o in range(5)]  # too few events to judge
    assert streams.silence(stream(records)) == {
        finding("silence", "warning", 0, b"p", 24, 25), finding("silence", "warning", 0, b"a", 29, 30),
        finding("silence", "warning", None, b"a", 49, 0)}


def test_silence_threshold_is_exact_not_floating_point():
    # 22 events over 3012 ms: mean interval 3012/21; 7 x that is exactly 1004 ms -- a silence of 1004
    # ms is not longer than it (in floating point 7 * (3012/21) = 1003.9999999999999).
    gaps = [100] * 10 + [1004] + [100] * 2 + [101] * 8
    times = [sum(gaps[:n]) for n in range(len(gaps) + 1)]
    records = [rec(0, o, t) for o, t in enumerate(times)]
    assert times[-1] == 3012 and len(records) == 22
    assert streams.silence(stream(records, params={"silence": {"factor": 7}})) == set()
    assert streams.silence(stream(records, params={"silence": {"factor": 6.9}})) == {finding("silence", "warning", 0, b"k", 10, 11)}


# --- out_of_order --------------------------------------------------------------------------------

def timed(partition, offset, key, event_ts, ts=None):
    return rec(partition, offset, offset if ts is None else ts, key=key, value=json.dumps({"ts": T0 + event_ts}).encode())


def test_late_events_by_entity_and_partition_scope_with_tolerance():
    records = [timed(0, 0, b"a", 1000), timed(0, 1, b"b", 2000), timed(0, 2, b"a", 1500),  # late in partition only
               timed(0, 3, b"a", 900), timed(0, 4, b"b", 1995),                            # entity a; b within 10 ms
               timed(0, 5, None, 100), rec(0, 6, 7, key=b"b", value=b"{}")]               # no entity; no event time
    found = streams.out_of_order(stream(records, fields={"event_time": "$.ts"},
                                        params={"out_of_order": {"tolerance_ms": 10}}))
    assert found == {finding("out_of_order", "info", 0, b"a", 2), finding("out_of_order", "warning", 0, b"a", 3),
                     finding("out_of_order", "info", 0, None, 5)}


def test_split_entity_offsets_by_partition_and_key_of_the_earliest_partition():
    user = b'{"user": "u"}'
    records = [rec(2, 7, 50, key=b"k2", value=user), rec(2, 3, 60, key=None, value=user),
               rec(0, 4, 10, key=b"k0", value=user), rec(0, 9, 5, key=b"z", value=user),  # earliest broker time
               rec(1, 1, 5, key=b"k1", value=user)]                                      # a tie: lowest partition wins
    found = streams.out_of_order(stream(records, fields={"entity": "$.user", "event_time": "$.none"}))
    assert found == {finding("out_of_order", "warning", None, b"k0", 4, 1, 3)}


# --- field_coverage ------------------------------------------------------------------------------

def test_field_coverage_reports_explicit_fields_with_missing_or_unparseable_values():
    good = [rec(0, 0, 0, value=b'{"seq": 1, "id": "x"}', topic="a"), rec(0, 1, 1, value=b'{"seq": 2, "id": "y"}', topic="a")]
    unparseable = [rec(0, 0, 0, value=b'{"seq": "one", "id": "x"}', topic="b")]
    missing = [rec(0, 0, 0, value=b"not json", topic="c")]
    fields = {"sequence": "$.seq", "event_id": "$.id"}
    assert streams.field_coverage(stream(good + unparseable + missing, fields=fields)) == {
        Finding("field_coverage", "info", "b", None, None, ()), Finding("field_coverage", "info", "c", None, None, ())}
    only_ids = stream(good + unparseable, fields=fields, explicit={"event_id"})
    assert streams.field_coverage(only_ids) == set()
