"""Faults never lose or corrupt data: kill -9 at 20 points of a dump, a broker restart mid-dump, a full disk.

Every scenario ends with the same proof: the dataset is row-for-row identical to a clean dump, each
Parquet file on disk is listed by a complete manifest with its checksum, and no temporary is left.

The fault points are exact, not timed: the dump stops itself (SIGSTOP) after a given number of
committed files (EVKIT_TEST_STOP_AFTER_FILES, evkit/cluster/reader.py), and the test kills it or
stops the broker then. These tests are the costly ones of the dump suite, so they run on the default
(native) reader only: the fault handling is the consume loop's and the writer's, which both readers
share; tests/cluster/test_dump.py kills and resumes a dump of the Python reader.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from confluent_kafka.admin import AdminClient, NewTopic

import evkit
import kafkactl
from conftest import wait_for_leaders
from support.dumping import dataset_rows, produce
from support.stopping import children, wait_for_exit, wait_until_stopped
from evkit.cluster.native import native_module
from evkit.cluster.reader import STOP_AFTER_FILES
from evkit.store.files import sha256_file
from evkit.store.layout import data_files, file_metadata
from evkit.store.manifest import read_manifests

pytestmark = pytest.mark.broker

EVKIT = [sys.executable, "-m", "evkit.cli"]
PARTITIONS, PER_PARTITION = 3, 10_000
FILE_SIZE = 50_000  # Arrow bytes: a file per consumed batch
ROW_KEY = ("topic", "partition", "offset", "key", "value", "headers", "timestamp")
BASE_TS = (int(time.time()) - 3600) * 1000  # recent: older records would fall to the topic's retention


def fault_records() -> list[dict]:
    """3 x 10k records with distinct, incompressible values and some headers (explicit partitions, so
    offsets are known)."""
    rng = random.Random(7)
    return [
        {"key": f"k{i}".encode(), "value": f"value-{i:08d}-".encode() + rng.randbytes(48),
         "partition": i % PARTITIONS, "timestamp": BASE_TS + i,
         "headers": [("n", str(i).encode()), ("nul", None)] if i % 7 == 0 else None}
        for i in range(PARTITIONS * PER_PARTITION)
    ]


def expected_rows(topic: str, records: list[dict]) -> list[tuple]:
    """The rows a correct dump of `records` holds, in (partition, offset) order."""
    rows, next_offset = [], [0] * PARTITIONS
    for rec in records:
        partition = rec["partition"]
        rows.append((topic, partition, next_offset[partition], rec["key"], rec["value"],
                     [{"key": k, "value": v} for k, v in rec["headers"] or ()], rec["timestamp"]))
        next_offset[partition] += 1
    return sorted(rows, key=lambda r: (r[1], r[2]))


def rows_of(root: Path) -> list[tuple]:
    return [tuple(int(r[c].timestamp() * 1000) if c == "timestamp" else r[c] for c in ROW_KEY)
            for r in dataset_rows(root, columns=list(ROW_KEY))]


def dump_command(bootstrap: str, out: Path, topic: str, *extra: str) -> list[str]:
    return [*EVKIT, "dump", "--bootstrap", bootstrap, "--out", str(out), "--topic", topic,
            "--file-size", str(FILE_SIZE), *extra]


def committed_files(root: Path) -> int:
    return sum(1 for _ in data_files(root)) if root.exists() else 0


def assert_every_parquet_file_is_whole(root: Path) -> None:
    """A file with a final name must be complete: readable, with evkit metadata matching its content."""
    for path in data_files(root):
        info = file_metadata(path)
        offsets = pq.read_table(path, columns=["offset"]).column("offset").to_pylist()
        assert info["num_rows"] == info["rows"] == len(offsets), path
        assert all(info["start"] <= o < info["end"] for o in offsets), path


def assert_complete_dataset(root: Path, expected: list[tuple]) -> None:
    """The dataset holds exactly `expected`, every file is listed (with its checksum) by a complete run."""
    assert rows_of(root) == expected
    manifests = read_manifests(root)
    assert [m.status for m in manifests] == ["complete"] * len(manifests)
    listed = {f.path: f for m in manifests for p in m.partitions for f in p.files}
    on_disk = {p.relative_to(root).as_posix() for p in data_files(root)}
    assert on_disk == set(listed)
    assert all(sha256_file(root / path) == f.sha256 for path, f in listed.items())
    assert all(p.complete and p.skipped == [] for m in manifests for p in m.partitions)
    assert list(root.rglob(".*.tmp")) == []
    assert_every_parquet_file_is_whole(root)


def resume_to_a_complete_dataset(bootstrap: str, out: Path, topic: str, expected: list[tuple]) -> None:
    """Re-run the same dump: it must finish quietly and leave exactly the clean dump's rows."""
    resumed = subprocess.run(dump_command(bootstrap, out, topic, "--quiet"), capture_output=True, text=True)
    assert (resumed.returncode, resumed.stderr) == (0, "")
    assert_complete_dataset(out, expected)


class DumpProcess:
    """`evkit dump` (the native reader) as a subprocess whose stderr (one line per error, tqdm status)
    is collected live; with `stop_after`, its reading process stops itself after that many committed files."""

    def __init__(self, command: list[str], stop_after: int | None = None):
        env = {**os.environ, "EVKIT_READER": "native"}
        if stop_after is not None:
            env[STOP_AFTER_FILES] = str(stop_after)
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        self.stderr = b""
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        while chunk := self.proc.stderr.read1(4096):
            self.stderr += chunk

    def wait_for(self, condition, timeout: float = 60) -> None:
        """Poll `condition()` until it holds or the dump exits."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and not condition():
            assert time.monotonic() < deadline, f"condition not met within {timeout}s: {self.stderr[-500:]!r}"
            time.sleep(0.005)

    def finish(self, timeout: float = 120) -> tuple[int, str]:
        returncode = self.proc.wait(timeout)
        self._reader.join(10)
        return returncode, self.stderr.decode(errors="replace")


def error_lines(stderr: str) -> list[str]:
    """The lines a person reads on the terminal (tqdm redraws with \\r; keep what is left of each line)."""
    return [line.rsplit("\r", 1)[-1] for line in stderr.splitlines() if line.rsplit("\r", 1)[-1].strip()]


@pytest.fixture(scope="module")
def fault_topic(bootstrap, admin, tmp_path_factory) -> tuple[str, list[tuple]]:
    """A 3-partition topic of 30k records and its expected rows (checked against a clean dump)."""
    topic = f"faults-{os.urandom(4).hex()}"
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    wait_for_leaders(admin, topic, PARTITIONS)
    records = fault_records()
    produce(bootstrap, topic, records)
    expected = expected_rows(topic, records)
    clean = tmp_path_factory.mktemp("clean") / "ds"
    subprocess.run(dump_command(bootstrap, clean, topic, "--quiet"), check=True)
    assert_complete_dataset(clean, expected)
    return topic, expected


def test_kill_9_at_20_points_then_resume_is_always_a_clean_dump(bootstrap, fault_topic, tmp_path):
    assert native_module() is not None, "the native reader is not built: run `make native-reader`"
    topic, expected = fault_topic
    rng = random.Random(20261127)
    for cycle in range(20):
        out = tmp_path / f"cycle-{cycle}"
        # Even cycles read in-process, odd ones in 3 worker processes (which must die with the dump).
        # 1000-record batches commit at least 8 files per partition (file size 50 kB): the kill point
        # is after `files` committed files (0 = before reading), counted by the process that reads (in
        # a worker: its one partition's), while the writer thread may be writing the next ones.
        workers = 1 + 2 * (cycle % 2)
        files = rng.randint(0, 20 if workers == 1 else 6)
        dump = DumpProcess(dump_command(bootstrap, out, topic, "--quiet", "--batch-size", "1000",
                                        "--workers", str(workers)), stop_after=files)
        wait_until_stopped(dump.proc, f"cycle {cycle} ({files} files)")
        workers_of_the_dump = children(dump.proc.pid)
        os.kill(dump.proc.pid, signal.SIGKILL)
        assert dump.finish()[0] == -signal.SIGKILL
        wait_for_exit(workers_of_the_dump)
        assert_every_parquet_file_is_whole(out)
        # Resumed in this process (a process start costs more than the dump): the CLI's resume is the other tests'.
        evkit.dump(bootstrap=bootstrap, out=out, topics=[topic], file_size=FILE_SIZE, reader="native", quiet=True)
        assert_complete_dataset(out, expected)


# --- the broker goes away mid-dump -------------------------------------------------------------------------


def stop_broker(state_dir: Path) -> dict:
    """Stop the private broker (SIGTERM, like a rolling restart) and return its recorded state."""
    state = json.loads((state_dir / "broker.json").read_text())
    kafkactl.down(state_dir)
    return state


def start_broker_again(state_dir: Path, state: dict, timeout: float = 60) -> None:
    """Start the stopped broker on the same ports and log directory (kafkactl.up would re-format it)."""
    with open(state_dir / "logs" / "stdout.log", "ab") as log:
        proc = subprocess.Popen(
            kafkactl.java_command("kafka.Kafka", str(state_dir / "server.properties"),
                                  log4j=state_dir / "log4j2.properties"),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    (state_dir / "broker.json").write_text(json.dumps({**state, "pid": proc.pid}))
    host, port = state["bootstrap"].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if kafkactl.metadata_brokers(host, int(port))[0]:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None and time.monotonic() < deadline, f"broker did not come back; see {state_dir}/logs"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def private_broker(tmp_path_factory):
    """A broker of this module's own, which the tests stop and start again."""
    state_dir = tmp_path_factory.mktemp("private-kafka")
    address = kafkactl.up(state_dir, timeout=120)
    try:
        yield state_dir, address
    finally:
        kafkactl.down(state_dir)


@pytest.fixture
def private_topic(private_broker) -> tuple[str, list[tuple]]:
    _, address = private_broker
    admin = AdminClient({"bootstrap.servers": address})
    topic = f"restart-{os.urandom(4).hex()}"
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(30)
    wait_for_leaders(admin, topic, PARTITIONS)
    records = fault_records()
    produce(address, topic, records)
    return topic, expected_rows(topic, records)


# librdkafka prefetches ahead of what the dump has written: keep its queue small, and commit a file
# every few hundred records, so that when 3 files are committed ~95% of the range still needs the broker.
SMALL_FETCHES = ("--batch-size", "500", "-X", "queued.max.messages.kbytes=64", "-X", "fetch.message.max.bytes=32768")


def stop_the_broker_mid_dump(state_dir: Path, address: str, topic: str, out: Path,
                             timeout: int) -> tuple[DumpProcess, dict]:
    """Start a dump with --timeout `timeout`; when it has committed 3 files (and stopped itself there),
    stop the broker, then let the dump go on."""
    dump = DumpProcess(dump_command(address, out, topic, *SMALL_FETCHES, "--timeout", str(timeout)), stop_after=3)
    stopped = wait_until_stopped(dump.proc, "stopping the broker")
    state = stop_broker(state_dir)
    os.kill(stopped, signal.SIGCONT)
    return dump, state


def test_a_broker_restart_mid_dump_is_waited_for_and_the_dump_completes(private_broker, private_topic, tmp_path):
    state_dir, address = private_broker
    topic, expected = private_topic
    out = tmp_path / "ds"
    dump, state = stop_the_broker_mid_dump(state_dir, address, topic, out, timeout=120)
    dump.wait_for(lambda: b"waiting for the broker" in dump.stderr)
    assert dump.proc.poll() is None, dump.stderr
    start_broker_again(state_dir, state)
    returncode, stderr = dump.finish()
    assert returncode == 0, stderr
    assert_complete_dataset(out, expected)


def test_a_broker_down_past_the_timeout_fails_clearly_then_resumes(private_broker, private_topic, tmp_path):
    state_dir, address = private_broker
    topic, expected = private_topic
    out = tmp_path / "ds"
    dump, state = stop_the_broker_mid_dump(state_dir, address, topic, out, timeout=4)
    try:
        returncode, stderr = dump.finish(timeout=60)
    finally:
        start_broker_again(state_dir, state)
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    assert error_lines(stderr)[-1] == (
        "evkit: error: no progress for 4s (broker unreachable or partition stalled); "
        "the committed part is kept: re-run the same command to resume")
    assert_every_parquet_file_is_whole(out)
    resume_to_a_complete_dataset(address, out, topic, expected)


# --- the disk fills up ---------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MiB tmpfs (needs root, as in the project's test environment); unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_fails_clearly_and_the_committed_part_resumes(bootstrap, fault_topic, small_disk):
    topic, expected = fault_topic
    out = small_disk / "ds"
    full = subprocess.run(dump_command(bootstrap, out, topic, "--quiet"), capture_output=True, text=True)
    assert full.returncode == 2, full.stderr
    assert "Traceback" not in full.stderr
    (line,) = full.stderr.splitlines()
    assert line.startswith(f"evkit: error: cannot write to {out}: No space left on device")
    assert committed_files(out) > 0
    assert_every_parquet_file_is_whole(out)

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    resume_to_a_complete_dataset(bootstrap, out, topic, expected)
