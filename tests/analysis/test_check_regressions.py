"""Findings evkit's checks once got wrong, found by the differential test against the reference model
(tests/reference): each test builds the smallest dataset that showed it, without a broker, and pins
the exact findings of the check concerned. The docstring of each test says what went wrong before.
"""
from __future__ import annotations

import json

import evkit
from support.analysis_data import BASE_MS, write
from evkit.partitioning.hashes import partition_all

TOPIC = "t"


def record(offset: int, key: bytes | None, value: bytes = b"v", *, ts: int | None = None, partition: int = 0,
           headers=()) -> dict:
    return {"topic": TOPIC, "partition": partition, "offset": offset,
            "timestamp": BASE_MS + offset if ts is None else ts, "key": key, "value": value, "headers": list(headers)}


def findings(*roots, check: str, **options) -> list[tuple]:
    """(check, severity, partition, key, offsets, detail) of every finding of one check."""
    with evkit.open(*roots, quiet=True, **options) as ds:
        rows = ds.findings([check]).fetchall()
    return [(c, severity, partition, key, offsets, detail)
            for c, severity, topic, partition, key, offsets, event_ids, first_ts, last_ts, detail in rows]


# --- duplicate -------------------------------------------------------------------------------------

def test_a_mirror_of_another_cluster_is_not_a_duplicate(tmp_path):
    """The same record in the datasets of two clusters (a mirror) was reported as an exact duplicate:
    copies were matched across clusters."""
    rows = [record(0, b"k", b"v"), record(1, b"x", b"y")]
    write(tmp_path / "a", rows, cluster_id="a")
    write(tmp_path / "b", rows, cluster_id="b")
    assert findings(tmp_path / "a", tmp_path / "b", check="duplicate") == []

    write(tmp_path / "c", [record(0, b"k", b"v"), record(1, b"k", b"v")], cluster_id="c")  # one within a cluster
    assert findings(tmp_path / "a", tmp_path / "c", check="duplicate") == [
        ("duplicate", "warning", 0, b"k", [0, 1],
         "exact duplicate: key k, value md5 9e3669d19b675bd57058fd4664205d2a stored 2 times at 0:0, 0:1 "
         "within 0.001 s"),
    ]


def test_a_null_key_is_not_the_key_null_in_text(tmp_path):
    """Exact duplicates were matched on a text label of the key, so a null key met the key '(null)':
    two copies of each made one finding over four offsets instead of one per key."""
    write(tmp_path / "ds", [record(0, None), record(1, b"(null)"), record(2, None), record(3, b"(null)")])
    label = "exact duplicate: key (null), value md5 9e3669d19b675bd57058fd4664205d2a stored 2 times at"
    assert findings(tmp_path / "ds", check="duplicate") == [
        ("duplicate", "warning", 0, None, [0, 2], f"{label} 0:0, 0:2 within 0.002 s"),
        ("duplicate", "warning", 0, b"(null)", [1, 3], f"{label} 0:1, 0:3 within 0.002 s"),
    ]


def test_a_binary_key_is_not_its_base64_label_in_text(tmp_path):
    """Likewise the key 0xff (labelled 'base64:/w==') met the text key 'base64:/w=='."""
    write(tmp_path / "ds", [record(0, b"\xff"), record(1, b"base64:/w=="),
                            record(2, b"\xff"), record(3, b"base64:/w==")])
    label = "exact duplicate: key base64:/w==, value md5 9e3669d19b675bd57058fd4664205d2a stored 2 times at"
    assert findings(tmp_path / "ds", check="duplicate") == [
        ("duplicate", "warning", 0, b"\xff", [0, 2], f"{label} 0:0, 0:2 within 0.002 s"),
        ("duplicate", "warning", 0, b"base64:/w==", [1, 3], f"{label} 0:1, 0:3 within 0.002 s"),
    ]


def test_a_republication_burst_ends_where_time_jumps_back(tmp_path):
    """A re-publication burst was cut only where broker time jumped forward by more than
    burst_window_ms between neighbours; a copy 120 s earlier than the one before it stayed in the
    burst. Now either way in time ends the burst: 10 copies at offsets 12..21 form a burst, the copy
    at offset 22 (120 s back) is left alone."""
    originals = [record(i, f"k{i}".encode(), f"v{i}".encode()) for i in range(12)]
    later = BASE_MS + 300_000
    copies = [record(12 + i, f"k{i}".encode(), f"v{i}".encode(), ts=later + i) for i in range(10)]
    copies.append(record(22, b"k10", b"v10", ts=later + 9 - 120_000))  # still after its original at offset 10
    write(tmp_path / "ds", originals + copies)
    bursts = [f for f in findings(tmp_path / "ds", check="duplicate") if f[5].startswith("re-publication")]
    assert bursts == [
        ("duplicate", "warning", 0, b"k0", list(range(12, 22)),
         "re-publication: 10 records at offsets 12..21 of t/0 repeat earlier records (offsets 0..9 of "
         "partition(s) 0), at least 300.000 s later"),
    ]


# --- offset_gap -----------------------------------------------------------------------------------

def two_dumps_both_skipping_offset_5(tmp_path) -> tuple:
    """Two dumps of one cluster's partition t/0, over [0, 10) and [0, 12); offset 5 is missing from both."""
    rows = [record(offset, b"k") for offset in range(12) if offset != 5]
    write(tmp_path / "first", [r for r in rows if r["offset"] < 10], ranges={(TOPIC, 0): (0, 10)})
    write(tmp_path / "second", rows, ranges={(TOPIC, 0): (0, 12)})
    return tmp_path / "first", tmp_path / "second"


GAP_5 = ("offset_gap", "warning", 0, b"k", [5, 5],
         "unexplained: offsets 5..5 (1 offsets) of t/0 were not delivered and nothing explains it "
         "(not compacted, no transaction markers seen)")


def test_a_gap_seen_by_two_dumps_is_one_unexplained_gap(tmp_path):
    """Two dumps of one partition (ranges [0, 10) and [0, 12)) that both skipped offset 5 counted as
    two single-offset gaps: the topic looked transactional (two lone one-offset gaps read as commit
    markers), so the gap was explained away as a marker."""
    assert findings(*two_dumps_both_skipping_offset_5(tmp_path), check="offset_gap") == [GAP_5]


def test_a_gap_seen_by_two_dumps_is_reported_once(tmp_path):
    """Judged strictly (`transactional = false`), that gap was reported once per dump that saw it."""
    config = {"topics": {TOPIC: {"transactional": False}}}
    assert findings(*two_dumps_both_skipping_offset_5(tmp_path), check="offset_gap", config=config) == [GAP_5]


# --- silence --------------------------------------------------------------------------------------

def test_silence_compares_exactly_not_in_floating_point(tmp_path):
    """With factor 7, 22 events over 3012 ms have a mean interval of 3012/21 ms, and a silence must be
    longer than 7 x that = 1004 ms exactly. Computed in floating point, 7 x (3012/21) came out just
    below 1004, so a quiet interval of exactly 1004 ms was reported. 1005 ms still is."""
    config = {"checks": {"silence": {"factor": 7, "min_events": 3, "min_ms": 0}}}

    def partition(root, silence_ms):
        steps = [100] * 12 + [101] * 8 + [silence_ms]  # 20 usual intervals (2008 ms), then the silence
        times = [BASE_MS]
        for step in steps:
            times.append(times[-1] + step)
        write(root, [record(offset, None, ts=ts) for offset, ts in enumerate(times)])
        return root

    assert findings(partition(tmp_path / "exact", 1004), check="silence", config=config) == []
    assert findings(partition(tmp_path / "longer", 1005), check="silence", config=config) == [
        ("silence", "warning", 0, None, [20, 21],
         "partition t/0 was silent for 1.005 s (7x its usual interval of 0.143 s over 22 events)"),
    ]


# --- out_of_order ---------------------------------------------------------------------------------

def test_a_split_entity_starting_at_the_same_time_is_keyed_by_its_lowest_partition(tmp_path):
    """An entity split over partitions whose first records have the same broker timestamp got the key
    of an arbitrary one of them (usually partition 2's here); now the key of the lowest partition, every
    run alike. The entity is a JSON field, so its key differs per partition."""
    user = json.dumps({"user": "u1"}).encode()
    write(tmp_path / "ds", [record(0, b"k1", user, ts=BASE_MS, partition=1),
                            record(0, b"k2", user, ts=BASE_MS, partition=2)])
    for _ in range(5):
        assert findings(tmp_path / "ds", check="out_of_order", fields={"entity": "$.user"}) == [
            ("out_of_order", "warning", None, b"k1", [0, 0],
             "entity u1 of t is split over partitions 1,2 (1+1 events): its order is not guaranteed"),
        ]


# --- key_encoding ---------------------------------------------------------------------------------

FRAME = b"\x00\x00\x00\x00\x01"  # Schema Registry: magic byte 0, schema id 1


def test_a_long_varint_in_a_framed_key_does_not_fail_the_check(tmp_path):
    """A framed key whose varint runs 19 bytes failed the whole key_encoding check with a DuckDB
    HUGEINT overflow. It is not an Avro long: no finding."""
    write(tmp_path / "ds", [record(0, FRAME + b"\xff" * 19 + b"\x01"),
                            record(1, b"42"), record(2, b"\x00\x00\x00\x2a")])  # the check still finds 42
    assert findings(tmp_path / "ds", check="key_encoding") == [
        ("key_encoding", "warning", None, b"\x00\x00\x00\x2a", [2, 1],
         "logical key 42 is written as 2 different keys in t: int32_be 0x0000002a (1 record, partition 0); "
         "utf8 '42' (1 record, partition 0)"),
    ]


def test_an_avro_long_is_at_most_10_bytes_below_2_to_the_64(tmp_path):
    """Varints of 10 bytes at or above 2^64, and of 11 bytes, were read as Avro longs beyond 64 bits
    and met the decimal text of that number. Avro longs are 64-bit: no finding."""
    ten_bytes = FRAME + b"\xff" * 9 + b"\x7f"  # 2^70 - 1, zigzag -2^69
    eleven_bytes = FRAME + b"\x80" * 10 + b"\x01"  # 2^70, zigzag 2^69
    write(tmp_path / "ds", [record(0, ten_bytes), record(1, b"-590295810358705651712"),
                            record(2, eleven_bytes), record(3, b"590295810358705651712")])
    assert findings(tmp_path / "ds", check="key_encoding") == []


def test_decimal_keys_are_normalised_at_any_length(tmp_path):
    """Decimal text keys of more than 38 digits were left as they were (the HUGEINT cast only took 38),
    so '42' and 38 zeros + '42' never met."""
    padded = b"0" * 38 + b"42"
    write(tmp_path / "ds", [record(0, b"42"), record(1, padded)])
    assert findings(tmp_path / "ds", check="key_encoding") == [
        ("key_encoding", "warning", None, padded, [1, 0],
         f"logical key 42 is written as 2 different keys in t: utf8 '{padded.decode()}' (1 record, "
         "partition 0); utf8 '42' (1 record, partition 0)"),
    ]


def test_keys_in_the_same_encoding_are_ordered_by_bytes(tmp_path):
    """Of two keys in the same encoding ('0' and '-0'), the finding's key was an arbitrary one and its
    offsets in any order; now the lowest bytes ('-0') first, every run alike."""
    write(tmp_path / "ds", [record(0, b"0"), record(1, b"0"), record(2, b"-0")])
    assert findings(tmp_path / "ds", check="key_encoding") == [
        ("key_encoding", "warning", None, b"-0", [2, 0, 1],
         "logical key 0 is written as 2 different keys in t: utf8 '-0' (1 record, partition 0); "
         "utf8 '0' (2 records, partition 0)"),
    ]


# --- partitioner ----------------------------------------------------------------------------------

def test_the_best_of_tied_partitioners_is_the_first_by_name(tmp_path):
    """A producer no partitioner explains names the best candidate; on a tie that was an arbitrary one
    of them (arg_max), now the first by name. Key k0 on 16 partitions goes to a different partition
    under every candidate: one record where sarama_reference puts it and one where kafkajs_legacy does
    tie at 50 %."""
    placed = {name: int(partitions[0]) for name, partitions in partition_all([b"k0"], 16).items()}
    del placed["librdkafka_fnv1a"]  # one candidate with sarama_hash: they place every key alike
    assert len(set(placed.values())) == 5  # no two candidates agree
    producer = [("producer", b"p1")]
    write(tmp_path / "ds", [record(0, b"k0", partition=placed["sarama_reference"], headers=producer),
                            record(0, b"k0", partition=placed["kafkajs_legacy"], headers=producer)],
          partition_counts={TOPIC: 16})
    assert findings(tmp_path / "ds", check="partitioner") == [
        ("partitioner", "warning", None, None, [],
         "producer 'p1' wrote 2 keyed record(s) with 1 distinct key(s) to t: no known partitioner puts them where "
         "they are; best kafkajs_legacy explains 50.0% (explicit partitions, a custom partitioner, or a grown "
         "topic: see partition_count_change). Producers of t: p1: unexplained"),
    ]
