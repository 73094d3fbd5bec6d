"""Diff classifications, exactly: only in A, only in B, changed (with the JSON fields), moved; each identity; CLI."""
from __future__ import annotations

import json

import pytest

import evkit
from evkit.store.records import records_table
from evkit.store.writer import write_records
from share_cli import run_cli

BASE_MS = 1_764_000_000_000


def row(partition, offset, key, value, headers=None, ts=0):
    return {"topic": "t", "partition": partition, "offset": offset, "timestamp": BASE_MS + ts, "key": key,
            "value": value, "headers": headers}


A = [row(0, 0, b"k1", b'{"id":"a","x":1}'), row(0, 1, b"k2", b'{"id":"b","x":2}'), row(0, 2, b"k3", b'{"id":"c","x":3}'),
     row(1, 0, b"k4", b"v4"), row(1, 1, None, b""), row(1, 2, b"k6", None), row(1, 3, b"k7", b'{"id":"g","y":1}'),
     row(1, 4, b"k8", b"same", ts=5)]
B = [row(0, 0, b"k1", b'{"id":"a","x":1}'), row(0, 1, b"k3", b'{"id":"c","x":3}'), row(0, 2, b"k2", b'{"id":"b","x":2}'),
     row(0, 3, b"k4", b"v4"), row(1, 0, None, None), row(1, 1, b"k6", None, [("evkit-replay", b"x:t/1@2")]),
     row(1, 2, b"k7", b'{"id":"g","y":2,"z":0}'), row(1, 3, b"k8", b"same", ts=6)]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("diff")
    write_records(root / "a", records_table(A))
    write_records(root / "b", records_table(B), cluster_id="other")
    return root / "a", root / "b"


def brief(report):
    return [(d["diff"], d["a"] and (d["a"]["partition"], d["a"]["offset"]), d["b"] and (d["b"]["partition"], d["b"]["offset"]),
             d["fields"]) for d in report.differences]


def test_content_identity(pair):
    report = evkit.diff(*pair, quiet=True)
    assert brief(report) == [
        ("changed", (1, 4), (1, 3), ["timestamp"]),  # same key and content, another time
        ("moved", (0, 1), (0, 2), []), ("moved", (0, 2), (0, 1), []),  # k2 and k3 swapped places
        ("moved", (1, 0), (0, 3), []),  # another partition
        ("only_in_a", (1, 1), None, []), ("only_in_a", (1, 3), None, []),  # an empty value is not a null one
        ("only_in_b", None, (1, 0), []), ("only_in_b", None, (1, 2), []),
    ]
    assert report.summary == [{"topic": "t", "a_records": 8, "b_records": 8, "matched": 6, "only_in_a": 2,
                               "only_in_b": 2, "changed": 1, "moved": 3}]
    assert report.exit_code == 1 and not report.equal


def test_event_id_identity_names_the_changed_json_fields(pair):
    with evkit.open(pair[0], fields={"event_id": "$.id"}, quiet=True) as ds:
        report = ds.diff(pair[1], identity="event_id", timestamps=False)
    assert brief(report) == [
        ("changed", (1, 3), (1, 2), ["value.$.y", "value.$.z"]),
        ("moved", (0, 1), (0, 2), []), ("moved", (0, 2), (0, 1), []), ("moved", (1, 0), (0, 3), []),
        ("only_in_a", (1, 1), None, []), ("only_in_b", None, (1, 0), []),
    ]
    assert report.differences[0] == {
        "diff": "changed", "topic": "t", "a": {"partition": 1, "offset": 3}, "b": {"partition": 1, "offset": 2},
        "key": "k7", "event_id": "g", "fields": ["value.$.y", "value.$.z"],
        "detail": "t/1@3 in A is t/1@2 in B with another value.$.y, value.$.z"}


def test_position_identity_and_ranges(pair):
    report = evkit.diff(*pair, identity="position", where='partition = 0', quiet=True)
    assert brief(report) == [("changed", (0, 1), (0, 1), ["key", "value.$.id", "value.$.x"]),
                             ("changed", (0, 2), (0, 2), ["key", "value.$.id", "value.$.x"]),
                             ("only_in_b", None, (0, 3), [])]
    same = evkit.diff(pair[0], pair[0], identity="position", where_a='"offset" < 2', where_b='"offset" < 2', quiet=True)
    assert same.equal and same.exit_code == 0 and same.differences == []


def test_cli_json_lines_exit_codes_and_errors(pair, tmp_path):
    code, out, err = run_cli("diff", str(pair[0]), str(pair[1]), "--format", "json", "--limit", "2", "-q")
    lines = [json.loads(line) for line in out.splitlines()]
    assert (code, err, len(lines)) == (1, "", 3)
    assert lines[-1]["summary"] == {"identity": "content", "equal": False, "only_in_a": 2, "only_in_b": 2, "changed": 1,
                                    "moved": 3, "truncated": 6, "topics": [
                                        {"topic": "t", "a_records": 8, "b_records": 8, "matched": 6, "only_in_a": 2,
                                         "only_in_b": 2, "changed": 1, "moved": 3}]}
    code, out, err = run_cli("diff", str(pair[0]), str(pair[0]))
    assert (code, out, err) == (0, "equal (matched by content): 0 only in a, 0 only in b, 0 changed, 0 moved\n"
                                   "  t: A 8, B 8, matched 8, only in a 0, only in b 0, changed 0, moved 0\n", "")
    for argv, message in [
        ((str(pair[0]), str(tmp_path / "none")), f"{tmp_path / 'none'}: no such dataset directory"),
        ((str(pair[0]), str(pair[1]), "--topic-map", "t"), "--topic-map 't': expected TOPIC=OTHER_TOPIC"),
        ((str(pair[0]), str(pair[1]), "--limit", "-1"), "--limit must be 0 or more"),
    ]:
        assert run_cli("diff", *argv, "-q") == (2, "", f"evkit: error: {message}\n")
    code, out, err = run_cli("diff", str(pair[0]), str(pair[1]), "--where", "nonsense = 1", "-q")
    assert code == 2 and err.startswith("evkit: error: --where: Binder Error:") and err.count("\n") == 1
