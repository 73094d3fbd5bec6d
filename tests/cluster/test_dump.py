"""evkit dump against the real broker: exact rows, ranges, isolation, resume, read-only, errors."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

import evkit
from evkit.store.layout import data_files, manifest_path, write_identity
from evkit.store.manifest import Manifest, read_manifests, write_manifest
from evkit.cluster.reader import STOP_AFTER_FILES
from support.dumping import all_bytes_under, dataset_rows, headers_as_pairs, only_manifest, produce
from support.stopping import wait_until_stopped

pytestmark = pytest.mark.broker

# Recent, whole seconds: records older than the topic's retention (7 days) would be deleted under the test.
BASE_TS = (int(time.time()) - 3600) * 1000


def keyed_records(count: int, partitions: int = 1) -> list[dict]:
    return [{"key": f"k{i}".encode(), "value": f"v{i}".encode(), "partition": i % partitions,
             "timestamp": BASE_TS + i * 1000} for i in range(count)]


@pytest.mark.usefixtures("reader")
def test_every_field_is_dumped_byte_exact(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=1)
    records = [
        {"key": None, "value": b"no key", "timestamp": BASE_TS},
        {"key": b"", "value": b"", "timestamp": BASE_TS + 1},
        {"key": b"\xff\x00binary", "value": None, "timestamp": BASE_TS + 2},  # tombstone
        {"key": "ключ".encode(), "value": bytes(range(256)), "timestamp": BASE_TS + 3,
         "headers": [("dup", b"1"), ("dup", b"2"), ("nul", None), ("empty", b"")]},
    ]
    produce(bootstrap, topic, records)
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True).to_json()

    rows = dataset_rows(tmp_path / "ds")
    assert [(r["offset"], r["key"], r["value"]) for r in rows] == [
        (i, rec["key"], rec["value"]) for i, rec in enumerate(records)
    ]
    assert [headers_as_pairs(r["headers"]) for r in rows] == [rec.get("headers", []) for rec in records]
    assert [int(r["timestamp"].timestamp() * 1000) for r in rows] == [rec["timestamp"] for rec in records]
    assert {r["timestamp_type"] for r in rows} == {"create"}
    assert [r["key_size"] for r in rows] == [None, 0, 8, 8]
    assert [r["value_size"] for r in rows] == [6, 0, None, 256]
    assert [r["key_text"] for r in rows] == [None, "", None, "ключ"]
    assert all(r["topic"] == topic and r["partition"] == 0 and r["leader_epoch"] == 0 for r in rows)
    assert manifest["status"] == "complete"
    (part,) = manifest["partitions"]
    assert (part["start"], part["end"], part["records"], part["skipped"], part["complete"]) == (0, 4, 4, [], True)


@pytest.mark.usefixtures("reader")
def test_log_append_time_topic_keeps_the_broker_timestamp(bootstrap, make_topic, tmp_path):
    topic = make_topic(config={"message.timestamp.type": "LogAppendTime"})
    before = int(time.time() * 1000)
    produce(bootstrap, topic, [{"key": b"a", "value": b"1", "timestamp": BASE_TS}])
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True).to_json()
    (row,) = dataset_rows(tmp_path / "ds")
    assert row["timestamp_type"] == "log_append"
    assert int(row["timestamp"].timestamp() * 1000) >= before  # the broker's clock, not BASE_TS
    assert manifest["topics"][topic]["configs"]["message.timestamp.type"] == "LogAppendTime"


@pytest.mark.usefixtures("reader")
def test_ranges_by_offset_last_n_time_and_per_partition_override(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(40, partitions=2))  # 20 per partition, offsets 0..19

    def dumped(name, **kw):
        evkit.dump(bootstrap=bootstrap, out=tmp_path / name, topics=[topic], quiet=True, **kw)
        return [(r["partition"], r["offset"]) for r in dataset_rows(tmp_path / name)]

    assert dumped("offsets", start=5, end=8) == [(0, 5), (0, 6), (0, 7), (1, 5), (1, 6), (1, 7)]
    assert dumped("last", start=-2) == [(0, 18), (0, 19), (1, 18), (1, 19)]
    # record i sits at BASE_TS + i s on partition i % 2, offset i // 2; from record 30 on = offset 15
    iso = datetime.fromtimestamp((BASE_TS + 30_000) / 1000, timezone.utc).isoformat()
    assert dumped("time", start=iso, end=f"@{BASE_TS + 34_000}") == [(0, 15), (0, 16), (1, 15), (1, 16)]
    assert dumped("override", start=["-1", f"{topic}:1=17"]) == [(0, 19), (1, 17), (1, 18), (1, 19)]
    assert dumped("partitions_only", **{"start": 19}) == [(0, 19), (1, 19)]


@pytest.mark.usefixtures("reader")
def test_relative_time_and_regex_over_several_topics(bootstrap, make_topic, tmp_path):
    prefix = f"rel-{os.urandom(4).hex()}"  # unique per run: the regex must match only this test's topics
    first, second = make_topic(prefix=prefix), make_topic(prefix=prefix, partitions=2)
    now = int(time.time() * 1000)
    produce(bootstrap, first, [{"key": b"old", "value": b"1", "timestamp": now - 3 * 3_600_000},
                               {"key": b"new", "value": b"2", "timestamp": now - 60_000}])
    produce(bootstrap, second, [{"key": b"x", "value": b"3", "partition": 1, "timestamp": now - 30_000}])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[f"/{prefix}-.*/"], start="-2h", quiet=True)
    assert [(r["topic"], r["partition"], r["key"]) for r in dataset_rows(tmp_path / "ds")] == sorted(
        [(first, 0, b"new"), (second, 1, b"x")])


def transactional_topic(bootstrap: str, topic: str) -> None:
    """committed(3) aborted(2) committed(1): offsets 0-2, marker 3, aborted 4-5, marker 6, 7, marker 8."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{topic}"})
    producer.init_transactions(30)
    for values, commit in (([b"c0", b"c1", b"c2"], True), ([b"a0", b"a1"], False), ([b"c3"], True)):
        producer.begin_transaction()
        for value in values:
            producer.produce(topic, key=b"k", value=value)
        producer.flush(30)
        (producer.commit_transaction if commit else producer.abort_transaction)(30)


@pytest.mark.usefixtures("reader")
def test_transactions_under_both_isolation_levels(bootstrap, make_topic, tmp_path):
    topic = make_topic()
    transactional_topic(bootstrap, topic)

    committed = evkit.dump(bootstrap=bootstrap, out=tmp_path / "rc", topics=[topic], quiet=True).to_json()
    assert [(r["offset"], r["value"]) for r in dataset_rows(tmp_path / "rc")] == [
        (0, b"c0"), (1, b"c1"), (2, b"c2"), (7, b"c3")]
    (part,) = committed["partitions"]
    assert (part["end"], part["complete"], part["skipped"]) == (9, True, [[3, 7], [8, 9]])

    everything = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ru", topics=[topic], isolation="read_uncommitted",
                            quiet=True).to_json()
    assert [r["value"] for r in dataset_rows(tmp_path / "ru")] == [b"c0", b"c1", b"c2", b"a0", b"a1", b"c3"]
    assert everything["partitions"][0]["skipped"] == [[3, 4], [6, 7], [8, 9]]


@pytest.mark.usefixtures("reader")
def test_empty_partitions_and_a_range_ending_in_markers_finish(bootstrap, make_topic, tmp_path):
    # The default --timeout (30 s): a shorter one turned a slow answer of the loaded shared broker into a
    # ClusterError; a dump that did not finish would still fail with "no progress" after 30 s.
    empty = make_topic(partitions=3)
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "empty", topics=[empty], quiet=True).to_json()
    assert manifest["status"] == "complete"
    assert [(p["partition"], p["start"], p["end"], p["records"], p["files"], p["complete"])
            for p in manifest["partitions"]] == [(n, 0, 0, 0, [], True) for n in range(3)]
    assert list(data_files(tmp_path / "empty")) == []

    tail_markers = make_topic()
    transactional_topic(bootstrap, tail_markers)
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "tail", topics=[tail_markers], start=7, quiet=True).to_json()
    assert [(p["start"], p["end"], p["records"], p["skipped"]) for p in manifest["partitions"]] == [(7, 9, 1, [[8, 9]])]


@pytest.mark.usefixtures("reader")
def test_compacted_topic_dumps_what_the_log_holds(bootstrap, make_topic, tmp_path):
    topic = make_topic(config={"cleanup.policy": "compact"})
    produce(bootstrap, topic, [{"key": b"a", "value": b"1"}, {"key": b"a", "value": b"2"}, {"key": b"b", "value": None}])
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True).to_json()
    assert [(r["key"], r["value"]) for r in dataset_rows(tmp_path / "ds")] == [(b"a", b"1"), (b"a", b"2"), (b"b", None)]
    assert manifest["topics"][topic]["configs"]["cleanup.policy"] == "compact"


@pytest.mark.usefixtures("reader")
def test_rerun_adds_nothing_and_a_later_end_appends_only_new_offsets(bootstrap, make_topic, tmp_path, capsys):
    topic = make_topic()
    produce(bootstrap, topic, keyed_records(10))
    out = tmp_path / "ds"
    evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], quiet=True)
    assert evkit.dump(bootstrap=bootstrap, out=out, topics=[topic]).status == "nothing_to_do"
    assert capsys.readouterr().out == ""  # the API prints nothing; the command says what it did
    again = cli("dump", "-b", bootstrap, "-o", str(out), "-t", topic)
    assert again.stdout.splitlines()[-1] == f"nothing to read: {out} already holds every planned offset"
    produce(bootstrap, topic, keyed_records(15)[10:])
    second = evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], quiet=True).to_json()
    assert second["partitions"][0]["read"] == [[10, 15]]
    assert [r["offset"] for r in dataset_rows(out)] == list(range(15))
    assert sorted(f.name for f in data_files(out)) == [
        "00000000000000000000-00000000000000000010.parquet", "00000000000000000010-00000000000000000015.parquet"]
    assert len(read_manifests(out)) == 2


def test_a_range_without_records_is_a_complete_empty_dataset(bootstrap, make_topic, tmp_path):
    """--start -2h over a topic whose records are all older: an empty dump that opens and checks clean."""
    topic = make_topic(partitions=2)
    old = int(time.time() * 1000) - 3 * 3_600_000
    produce(bootstrap, topic, [{"key": b"k", "value": b"v", "partition": i % 2, "timestamp": old + i} for i in range(5)])
    out = tmp_path / "cli"
    result = cli("dump", "-b", bootstrap, "-o", str(out), "-t", topic, "--start", "-2h")
    assert result.returncode == 0, result.stderr
    assert "nothing to read" not in result.stdout
    assert result.stdout.splitlines()[-1] == (
        f"the range holds no records: {topic}/0 [3, 3), {topic}/1 [2, 2); recorded in {out}")
    manifest = only_manifest(out)
    assert manifest["status"] == "complete" and manifest["totals"] == {"records": 0, "bytes": 0}
    assert [(p["partition"], p["start"], p["end"], p["read"], p["records"], p["skipped"], p["files"], p["complete"])
            for p in manifest["partitions"]] == [(0, 3, 3, [], 0, [], [], True), (1, 2, 2, [], 0, [], [], True)]
    checked = cli("check", str(out), "--quiet")
    assert (checked.returncode, checked.stdout.splitlines()[0], checked.stderr) == (0, "0 finding(s)", "")
    with evkit.open(out, quiet=True) as ds:
        assert ds.connection.execute("SELECT count(*) FROM records").fetchall() == [(0,)]
        assert ds.connection.execute('SELECT partition, start, "end", records, files FROM manifests ORDER BY partition'
                                     ).fetchall() == [(0, 3, 3, 0, 0), (1, 2, 2, 0, 0)]

    again = cli("dump", "-b", bootstrap, "-o", str(out), "-t", topic, "--start", "-2h")
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1] == (
        f"the range holds no records: {topic}/0 [3, 3), {topic}/1 [2, 2); {out} already records it")
    assert only_manifest(out) == manifest

    api = evkit.dump(bootstrap=bootstrap, out=tmp_path / "api", topics=[topic], start="-2h", quiet=True).to_json()
    assert api["status"] == "complete"
    assert api["partitions"] == only_manifest(tmp_path / "api")["partitions"]
    assert [(p["start"], p["end"], p["records"], p["files"]) for p in api["partitions"]] == [(3, 3, 0, []), (2, 2, 0, [])]
    report = evkit.check(tmp_path / "api", quiet=True)
    assert (report.findings, report.exit_code) == ([], 0)


ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_each_partition_records_when_its_end_was_fixed(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(6, partitions=2))
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True).to_json()
    moments = [p["end_fixed_at"] for p in manifest["partitions"]]
    assert all(ISO_MS.match(m) for m in moments), moments
    assert all(manifest["started_at"] <= m <= manifest["finished_at"] for m in moments)  # same format: text order
    assert moments == [p["end_fixed_at"] for p in manifest["plan"]]
    assert only_manifest(tmp_path / "ds") == manifest


def test_resuming_a_plan_saved_without_end_fixed_at_uses_the_run_start(bootstrap, make_topic, tmp_path):
    """An unfinished run of an evkit that did not record end_fixed_at: its plan was resolved just
    before the run's started_at, which stands in for it."""
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(6, partitions=2))
    out = tmp_path / "ds"
    finished = evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], quiet=True).to_json()
    older = {**finished, "status": "interrupted", "finished_at": None, "partitions": [], "totals": {},
             "plan": [{k: v for k, v in p.items() if k != "end_fixed_at"} for p in finished["plan"]]}
    write_manifest(out, Manifest.from_json(older))
    assert "end_fixed_at" not in json.loads(manifest_path(out, finished["run_id"]).read_text())["plan"][0]
    resumed = evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], quiet=True).to_json()
    assert (resumed["run_id"], resumed["status"], resumed["started_at"]) == (
        finished["run_id"], "complete", finished["started_at"])
    assert [p["end_fixed_at"] for p in resumed["partitions"]] == [finished["started_at"]] * 2
    assert [r["offset"] for r in dataset_rows(out)] == [0, 1, 2, 0, 1, 2]


@pytest.mark.usefixtures("reader")
def test_files_roll_by_size_and_each_names_its_range(bootstrap, make_topic, tmp_path):
    topic = make_topic()
    produce(bootstrap, topic, [{"key": b"k", "value": os.urandom(1000)} for _ in range(300)])
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True, file_size=50_000,
                          batch_size=40).to_json()
    files = manifest["partitions"][0]["files"]
    assert len(files) > 3
    assert files[0]["start"] == 0 and files[-1]["end"] == 300
    assert all(a["end"] == b["start"] for a, b in zip(files, files[1:]))
    assert sum(f["rows"] for f in files) == 300
    assert [r["offset"] for r in dataset_rows(tmp_path / "ds")] == list(range(300))


@pytest.mark.usefixtures("reader")
def test_worker_processes_write_the_same_rows_as_one_process(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=3)
    produce(bootstrap, topic, [{"key": str(i).encode(), "value": os.urandom(50), "partition": i % 3,
                               "headers": [("n", str(i).encode())]} for i in range(3000)])
    one = evkit.dump(bootstrap=bootstrap, out=tmp_path / "one", topics=[topic], quiet=True, workers=1).to_json()
    three = evkit.dump(bootstrap=bootstrap, out=tmp_path / "three", topics=[topic], quiet=True, workers=3,
                       file_size=20_000).to_json()
    assert dataset_rows(tmp_path / "three") == dataset_rows(tmp_path / "one")
    assert three["totals"] == one["totals"] == {"records": 3000, "bytes": three["totals"]["bytes"]}
    assert all(p["complete"] for p in three["partitions"])


# A kill -9 on each reader, once: in-process on the default (native) reader and in 3 worker processes on
# the Python one; tests/cluster/test_faults.py kills the native reader at 20 points. The dump stops
# itself after 2 committed files (an exact kill point, no race with a fast dump).
@pytest.mark.parametrize("reader, workers", [("native", "1"), ("python", "3")], indirect=["reader"])
def test_kill_9_then_resume_gives_exactly_the_rows_of_a_clean_dump(bootstrap, make_topic, tmp_path, reader, workers):
    topic = make_topic(partitions=3)
    produce(bootstrap, topic, [{"key": str(i).encode(), "value": os.urandom(200), "partition": i % 3}
                               for i in range(6000)])
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "clean", topics=[topic], quiet=True)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "evkit.cli", "dump", "-b", bootstrap, "-o", str(out), "-t", topic, "-q",
           "--workers", workers, "--file-size", "20000", "--batch-size", "100"]  # many files per partition
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, STOP_AFTER_FILES: "2"})
    wait_until_stopped(proc, f"{reader}, {workers} workers")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (killed,) = read_manifests(out)
    assert killed.status == "running"
    _wait_for_no_process_writing(out)

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert dataset_rows(out) == dataset_rows(tmp_path / "clean")
    manifest = only_manifest(out)
    assert manifest["status"] == "complete"
    # the resumed run keeps the moment the killed one fixed its end offsets
    assert [p["end_fixed_at"] for p in manifest["partitions"]] == [p["end_fixed_at"] for p in killed.plan]
    assert manifest["started_at"] == killed.started_at
    listed = {f["path"] for p in manifest["partitions"] for f in p["files"]}
    assert listed == {p.relative_to(out).as_posix() for p in data_files(out)}
    assert not list(out.rglob("*.tmp"))


def _processes_holding_files_under(root) -> list[int]:
    holders = []
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd).startswith(str(root)) for fd in fd_dir.iterdir()):
                holders.append(int(fd_dir.parent.name))
        except OSError:  # the process ended while we looked
            continue
    return holders


def _wait_for_no_process_writing(out) -> None:
    """Worker processes die with the killed parent (PR_SET_PDEATHSIG): none may still hold a file."""
    deadline = time.monotonic() + 10
    while _processes_holding_files_under(out):
        assert time.monotonic() < deadline, "a dump worker outlived its killed parent"
        time.sleep(0.1)


@pytest.mark.usefixtures("reader")
def test_dump_never_joins_a_group_nor_commits_offsets(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(20, partitions=2))
    admin = AdminClient({"bootstrap.servers": bootstrap})
    groups_before = {g.group_id for g in admin.list_consumer_groups().result(10).valid}
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True)
    groups_after = {g.group_id for g in admin.list_consumer_groups().result(10).valid}
    assert {g for g in groups_after - groups_before if g.startswith("evkit")} == set()
    # No group holds a committed offset for the topic.
    for group in groups_after:
        offsets = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result(10)
        assert all(tp.topic != topic for tp in offsets.topic_partitions)


@pytest.mark.usefixtures("reader")
def test_a_secret_given_with_X_reaches_no_output_file(bootstrap, make_topic, tmp_path):
    topic = make_topic()
    produce(bootstrap, topic, keyed_records(3))
    secret = "s3cr3t-Pa55word-that-must-not-leak"
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True,
                          client_config={"sasl.password": secret, "sasl.username": "analyst", "client.id": "evkit-test"}).to_json()
    assert secret.encode() not in all_bytes_under(tmp_path / "ds")
    assert manifest["client_config"]["sasl.password"] == "[redacted]"
    assert manifest["client_config"]["sasl.username"] == "analyst"


def test_dry_run_prints_the_plan_and_writes_nothing(bootstrap, make_topic, tmp_path, capsys):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(6, partitions=2))
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], start=-2, dry_run=True)
    assert manifest.status == "dry_run" and [(p["start"], p["end"]) for p in manifest.plan] == [(1, 3), (1, 3)]
    assert not (tmp_path / "ds").exists()
    assert capsys.readouterr().out == ""
    shown = cli("dump", "-b", bootstrap, "-o", str(tmp_path / "ds"), "-t", topic, "--start", "-2", "--dry-run")
    assert not (tmp_path / "ds").exists()
    plan = shown.stdout.splitlines()
    assert plan[0] == "plan (read_committed; end = last stable offset; at most 4 records to read):"
    assert plan[1].split() == ["topic", "part", "request", "low", "end", "range", "[start,", "end)", "to", "read"]
    assert plan[2].split() == [topic, "0", "-2", "..", "end", "0", "3", "[1,", "3)", "2"]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evkit.cli", *args], capture_output=True, text=True, timeout=120)


def test_user_errors_are_one_line_exit_2_and_write_nothing(bootstrap, make_topic, admin, tmp_path):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(10, partitions=2))
    for future in admin.delete_records([TopicPartition(topic, 0, 3)]).values():  # low watermark of partition 0 -> 3
        future.result(10)
    other = tmp_path / "other"
    write_identity(other, "another-cluster")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("mine")
    out = str(tmp_path / "ds")
    cases = {
        ("-t", "no-such-topic"): "evkit: error: topic 'no-such-topic' does not exist on this cluster",
        ("-t", f"{topic}:5"): f"evkit: error: topic '{topic}' has partitions 0-1; no partition 5",
        ("-t", topic, "--start", "4", "--end", "2"): f"evkit: error: {topic}[0]: end 2 is before start 4",
        ("-t", topic, "--start", "0"): f"evkit: error: {topic}[0]: start offset 0 is below the low watermark 3: 3 "
                                       "offsets were already deleted (retention or compaction); start at 3 or 'beginning'",
        ("-t", topic, "--start", "soon"): "evkit: error: position 'soon': expected beginning, end, an offset, -N (last N), "
                                          "an ISO-8601 timestamp with zone, @epoch-ms or a relative time like -2h",
        ("-t", f"{topic}:x"): f"evkit: error: --topic '{topic}:x': bad partition list 'x' (expected e.g. 0,3-5)",
        ("-t", topic, "-X", "enable.auto.commit=true"): "evkit: error: enable.auto.commit=true is not allowed: evkit "
                                                         "never commits or stores offsets",
    }
    for args, expected in cases.items():
        result = cli("dump", "-b", bootstrap, "-o", out, *args)
        assert (result.returncode, result.stderr.strip()) == (2, expected), args
        assert not (tmp_path / "ds").exists()

    other_cluster = cli("dump", "-b", bootstrap, "-o", str(other), "-t", topic)
    assert other_cluster.returncode == 2
    assert other_cluster.stderr.startswith(f"evkit: error: --out {other} holds a dump of cluster another-cluster")
    not_a_dataset = cli("dump", "-b", bootstrap, "-o", str(tmp_path / "junk"), "-t", topic)
    assert (not_a_dataset.returncode, not_a_dataset.stderr.strip()) == (
        2, f"evkit: error: --out {tmp_path / 'junk'} is not empty and is not an evkit dataset; "
           "choose an empty or new directory")
    assert sorted(p.name for p in (tmp_path / "junk").iterdir()) == ["notes.txt"]

    unreachable = cli("dump", "-b", "127.0.0.1:9", "-o", out, "-t", topic, "--timeout", "2")
    assert unreachable.returncode == 2
    assert unreachable.stderr.count("\n") == 1
    assert unreachable.stderr.startswith("evkit: error: no broker at 127.0.0.1:9 answered within 2s")


@pytest.mark.usefixtures("reader")
def test_cli_and_api_write_the_same_rows(bootstrap, make_topic, tmp_path):
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, keyed_records(50, partitions=2))
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "api", topics=[f"{topic}:1"], start=10, quiet=True)
    result = cli("dump", "-b", bootstrap, "-o", str(tmp_path / "cli"), "-t", f"{topic}:1", "--start", "10")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == f"dumped 15 records (0.0 MB) to {tmp_path / 'cli'}"
    assert dataset_rows(tmp_path / "cli") == dataset_rows(tmp_path / "api")
    # The same request, however it was given: a run started by one resumes with the other.
    assert only_manifest(tmp_path / "cli")["request"] == only_manifest(tmp_path / "api")["request"] == {
        "topics": [f"{topic}:1"], "start": ["10"], "end": ["end"], "isolation": "read_committed"}


def test_verbose_shows_librdkafka_logs_and_still_ends_with_the_one_line_error(tmp_path):
    result = cli("-v", "dump", "-b", "127.0.0.1:9", "-o", str(tmp_path / "ds"), "-t", "t", "--timeout", "2")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2
    assert any(" evkit.librdkafka " in line and "Connection refused" in line for line in lines[:-1])
    assert lines[-1].startswith("evkit: error: no broker at 127.0.0.1:9 answered within 2s")
