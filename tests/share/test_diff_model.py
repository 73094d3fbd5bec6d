"""The differential test of `evkit diff`: its summary and differences equal the reference model's
(diff_model.py) on generated pairs of datasets.

A is drawn from small alphabets of keys, values (null, empty, bytes, JSON objects with and without
an event id) and headers, so identities repeat; B is A edited record by record (kept, dropped,
copied, re-timed, changed, moved to another partition, swapped with its neighbour) plus new records,
written at fresh offsets, under another topic name half the time (--topic-map), and some with the
provenance header diff ignores. Each example is compared under one identity, with timestamps
compared or not. `make test` runs a fixed, derandomized set; EVKIT_FUZZ_EXAMPLES=N runs N random ones.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import evkit
from diff_model import diff as model_diff
from evkit.store.records import records_table
from evkit.store.writer import write_records

FUZZ_EXAMPLES = int(os.environ.get("EVKIT_FUZZ_EXAMPLES", "0"))
EXAMPLES = settings(max_examples=FUZZ_EXAMPLES or 25, deadline=None, derandomize=not FUZZ_EXAMPLES,
                    suppress_health_check=[HealthCheck.too_slow], print_blob=True)
BASE_MS = 1_764_000_000_000
KEYS = [None, b"", b"k1", b"k2"]
VALUES = [None, b"", b"v", b"\xff\xfe", b'{"id":"a","x":1}', b'{"id":"a","x":2}', b'{"id":"b","x":1,"y":[1]}',
          b'{"x":true}', b'{"x":1}', b'{"id":"c","z":"1"}', b"[1]"]
HEADERS = [[], [("h", b"1")], [("h", None)], [("h", b"")], [("h", b"1"), ("h", b"1")], [("g", b"1"), ("h", b"1")]]
PROVENANCE = ("evkit-replay", b"src:t/0@0")
EDITS = ("keep", "keep", "keep", "drop", "copy", "time", "value", "key", "headers", "move", "swap", "provenance")


def event_id(value: bytes | None) -> str | None:
    """The event id that the mapping `event_id = $.id` extracts (the generated ids are strings)."""
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError, UnicodeDecodeError):
        return None
    return parsed.get("id") if isinstance(parsed, dict) else None


record = st.fixed_dictionaries({"key": st.sampled_from(KEYS), "value": st.sampled_from(VALUES),
                                "headers": st.sampled_from(HEADERS), "ts": st.integers(0, 2)})


@st.composite
def dataset_pair(draw):
    topics = draw(st.sampled_from([["t"], ["t", "u"]]))
    a, b = [], []
    for topic in topics:
        for partition in range(draw(st.integers(1, 3))):
            offset, logs = draw(st.integers(0, 5)), []
            for fields in draw(st.lists(record, max_size=8)):
                logs.append({"topic": topic, "partition": partition, "offset": offset, **fields})
                offset += draw(st.integers(1, 2))
            a += logs
            edited = []
            for row in logs:
                edit = draw(st.sampled_from(EDITS))
                new = dict(row)
                if edit == "drop":
                    continue
                if edit == "copy":
                    edited.append(dict(row))
                elif edit == "time":
                    new["ts"] = draw(st.integers(0, 2))
                elif edit in ("value", "key", "headers"):
                    new[edit] = draw(st.sampled_from({"value": VALUES, "key": KEYS, "headers": HEADERS}[edit]))
                elif edit == "move":
                    new["partition"] = draw(st.integers(0, 2))
                elif edit == "swap" and edited:
                    edited.insert(len(edited) - 1, new)
                    continue
                elif edit == "provenance":
                    new["headers"] = [*row["headers"], PROVENANCE]
                edited.append(new)
            edited += [{"topic": topic, "partition": partition, **extra} for extra in draw(st.lists(record, max_size=2))]
            b += edited
    positions = {}
    for row in b:  # B's records at fresh offsets of their partitions, in the order drawn
        place = (row["topic"], row["partition"])
        positions[place] = row["offset"] = positions.get(place, draw(st.integers(0, 3)))
        positions[place] += 1
    return a, b


def rows(records: list[dict], topic_map: dict[str, str]) -> list[dict]:
    return [{"topic": topic_map.get(r["topic"], r["topic"]), "partition": r["partition"], "offset": r["offset"],
             "timestamp": BASE_MS + r["ts"], "key": r["key"], "value": r["value"], "headers": r["headers"]} for r in records]


def seen(records: list[dict]) -> list[dict]:
    """The records as the model compares them: the provenance header left out, the event id mapped."""
    return [{**r, "timestamp": r["ts"], "headers": [h for h in r["headers"] if h[0] != PROVENANCE[0]],
             "event_id": event_id(r["value"])} for r in records]


def swapped() -> tuple[list[dict], list[dict]]:
    """Two records of one partition in the other order, and nothing else."""
    a = [{"topic": "t", "partition": 0, "offset": n, "key": key, "value": b"v", "headers": [], "ts": 0}
         for n, key in enumerate((b"k1", b"k2"))]
    return a, [{**a[1], "offset": 0}, {**a[0], "offset": 1}]


@EXAMPLES
@example(pair=swapped(), by="content", timestamps=True, mapped=False)
@given(pair=dataset_pair(), by=st.sampled_from(["content", "event_id", "position"]), timestamps=st.booleans(),
       mapped=st.booleans())
def test_diff_equals_the_reference_model(pair, by, timestamps, mapped):
    a, b = pair
    topic_map = {"t": "staging.t", "u": "staging.u"} if mapped else {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_records(root / "a", records_table(rows(a, {})), cluster_id="source")
        write_records(root / "b", records_table(rows(b, topic_map)), cluster_id="staging")
        with evkit.open(root / "a", fields={"event_id": "$.id"}, quiet=True) as ds:
            report = ds.diff(root / "b", identity=by, topic_map=topic_map, timestamps=timestamps, limit=10_000)
    summary, differences = model_diff(seen(a), seen(b), by=by, timestamps=timestamps)
    got = [(d["diff"], d["topic"], d["a"] and (d["a"]["partition"], d["a"]["offset"]),
            d["b"] and (d["b"]["partition"], d["b"]["offset"]), d["fields"]) for d in report.differences]
    assert got == differences
    assert report.summary == summary
    assert report.truncated == 0 and report.exit_code == (0 if not differences else 1)
