"""Dump throughput: evkit's native and Python readers vs kcat vs librdkafka's own C loop, same range, same run.

    .venv/bin/python benchmarks/bench_dump.py [--records 1000000 5000000] [--repeat 3] [--bootstrap HOST:PORT]

Produces N records (~200-byte values, small keys and one header) to a local topic once (reused if
it already holds them), then runs each reader in its own process, one after the other, --repeat
rounds interleaved, and reports the median and best seconds, records/s, CPU seconds and the
largest peak RSS. Ratios use the medians. The physical limit is benchmarks/rdkafka_loop.c
(librdkafka's consume loop in C, touching every field, writing nothing; built here with gcc);
"native, fetch + Arrow only" is the native reader's consume loop without Parquet (where the time
goes). The native reader runs in 1 process (the default) and in 2 worker processes, and the
Parquet files of its dump are written again at zstd levels 1 and 3 (the writer alone: seconds, CPU
seconds, MB). Needs `kcat` (Debian package `kcat`) and a built native reader (`make native-reader`).
Without --bootstrap it starts a private broker with kafka/kafkactl.py. Loopback only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa

REPO = Path(__file__).resolve().parents[1]
FETCH = 4 * 1024 * 1024  # evkit's default fetch.message.max.bytes
PYTHON, NATIVE = "evkit python (default: 2 workers)", "evkit native (default: 1 process)"
# The Python reader as it was when issue 18 was filed: librdkafka's 1 s fetch.queue.backoff.ms.
PYTHON_BEFORE = "evkit python, fetch.queue.backoff.ms=1000 (as at issue 18)"
sys.path.insert(0, str(REPO / "kafka"))
import kafkactl  # noqa: E402

FETCH_ONLY = r"""
import sys, time
from evkit.cluster.connection import Connection
from evkit.cluster.native import NativeSource
from confluent_kafka import TopicPartition
bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = Connection({"bootstrap.servers": bootstrap}, isolation="read_committed", partitions=partitions)
source = NativeSource(conn)
source.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
done, n = set(), 0
while len(done) < partitions:
    count, tables, eofs, errors = source.consume_tables(10_000, 1.0)
    n += sum(t.num_rows for _, t in tables)
    done |= {(t, p) for t, p, _ in eofs}
source.close()
print(n)
"""


def c_loop() -> str:
    """Build benchmarks/rdkafka_loop.c (once per run) and return the binary's path."""
    binary = Path(tempfile.mkdtemp(prefix="bench-loop-")) / "rdkafka_loop"
    subprocess.run(["gcc", "-O2", f"-I{REPO / 'evkit' / 'cluster'}", str(REPO / "benchmarks" / "rdkafka_loop.c"),
                    "-o", str(binary), "-ldl"], check=True)
    return str(binary)


def produce(bootstrap: str, topic: str, records: int, partitions: int) -> None:
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic not in admin.list_topics(timeout=10).topics:
        admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
        time.sleep(1)
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-probe"})
    have = sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions))
    probe.close()
    if have >= records:
        return
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000,
                         "compression.type": "lz4", "queue.buffering.max.messages": 1_000_000})
    value = (b'{"event_id":"%08d","match_id":"m-%05d","odds":1.85,"type":"odds_update","payload":"' + b"x" * 120 + b'"}')
    started = time.monotonic()
    for i in range(have, records):
        while True:
            try:
                producer.produce(topic, key=b"m-%05d" % (i % 10_000), value=value % (i, i % 10_000),
                                 headers=[("producer", b"bench")])
                break
            except BufferError:
                producer.poll(0.05)
        if i % 100_000 == 0:
            producer.poll(0)
            print(f"  produced {i:,} ({time.monotonic() - started:.0f}s)", file=sys.stderr)
    producer.flush(120)


def measured(cmd: list[str], stdout_file: str | None = None) -> tuple[float, int, float, str]:
    """Run cmd; return (seconds, peak RSS in bytes, CPU seconds (user + system, its children's too),
    stdout). On a loaded machine the CPU seconds are what a reader costs; the seconds are its share.
    Linux carries the parent's peak RSS into a child through fork and exec, so this process stays
    small: producing and re-writing run in a child process of their own (`in_child`)."""
    started = time.monotonic()
    sink = open(stdout_file, "w") if stdout_file else subprocess.PIPE
    proc = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    if stdout_file:
        sink.close()
    seconds = time.monotonic() - started
    if status != 0:
        raise SystemExit(f"{cmd[0]} failed with status {status}")
    return seconds, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime, out


def in_child(function, *args):
    """function(*args) in a fresh Python process (spawned, not forked), so its memory never counts
    toward a measured reader's peak RSS."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def zstd_levels(dataset: Path) -> dict[int, tuple[float, float, int]]:
    """Write the dataset's records again with evkit's writer at zstd levels 1 and 3, in batches of
    10,000 as a dump does: {level: (seconds, CPU seconds, bytes)}."""
    import pyarrow.parquet as pq

    from evkit.store.layout import data_files
    from evkit.store.writer import PartitionFileWriter

    tables = [pq.read_table(path) for path in data_files(dataset)]
    levels = {}
    for level in (1, 3):
        with tempfile.TemporaryDirectory() as tmp:
            started, cpu, size = time.monotonic(), time.process_time(), 0
            for n, table in enumerate(tables):
                writer = PartitionFileWriter(tmp, "t", n, 0, run_id="bench", compression_level=level)
                for batch in table.to_batches(10_000):
                    writer.write(pa.Table.from_batches([batch]))
                size += writer.commit(table.num_rows).entry.bytes
            levels[level] = (time.monotonic() - started, time.process_time() - cpu, size)
    return levels


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--bootstrap")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each reader, interleaved; medians reported")
    args = parser.parse_args()
    state = None
    bootstrap = args.bootstrap
    if not bootstrap:
        state = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
        bootstrap = kafkactl.up(state)
    results = []
    load = [os.getloadavg()[0]]
    loop = c_loop()
    from evkit.cluster.native import _librdkafka_path

    librdkafka = _librdkafka_path()
    try:
        for records in args.records:
            topic = f"bench-dump-{records}"
            in_child(produce, bootstrap, topic, records, args.partitions)
            fetch = [f"fetch.message.max.bytes={FETCH}", "fetch.queue.backoff.ms=10"]
            kcat = ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", "-c", str(records)]
            kcat_json = [*kcat, "-J"]  # JSON lines, as issue 18 names the baseline
            kcat_text = [*kcat, "-f", r"%k\t%s\t%o\t%T\t%h\n"]  # tab-separated fields: less to escape
            dump = [sys.executable, "-m", "evkit.cli", "dump", "-b", bootstrap, "-t", topic, "-q"]
            readers = {"C loop (librdkafka), 4 MiB fetch": [loop, librdkafka, bootstrap, topic, str(args.partitions), str(records), *fetch]}
            if shutil.which("kcat"):
                readers |= {"kcat -J": kcat_json, "kcat -J, 4 MiB fetch": [*kcat_json, "-X", fetch[0]],
                            "kcat -f (text)": kcat_text, "kcat -f (text), 4 MiB fetch": [*kcat_text, "-X", fetch[0]]}
            readers |= {
                "evkit native, fetch + Arrow only": [sys.executable, "-c", FETCH_ONLY, bootstrap, topic, str(args.partitions)],
                PYTHON_BEFORE: [*dump, "--reader", "python", "-X", "fetch.queue.backoff.ms=1000"],
                PYTHON: [*dump, "--reader", "python"],
                NATIVE: [*dump, "--reader", "native"],
                "evkit native, 2 worker processes": [*dump, "--reader", "native", "--workers", "2"],
            }
            runs = {name: [] for name in readers}
            row = {"records": records}
            for _ in range(args.repeat):  # interleaved, so that a burst of load hits every reader alike
                for name, cmd in readers.items():
                    with tempfile.TemporaryDirectory() as tmp:
                        out_file = f"{tmp}/out.txt" if cmd[0] == "kcat" else None
                        if cmd[:3] == dump[:3]:
                            cmd = [*cmd, "-o", f"{tmp}/ds"]
                        secs, rss, cpu, out = measured(cmd, stdout_file=out_file)
                        if name == NATIVE and "zstd" not in row:
                            row["zstd"] = in_child(zstd_levels, Path(tmp) / "ds")
                    if out:
                        assert int(out.split()[0]) == records, (name, out, records)
                    runs[name].append((secs, rss, cpu))
            row |= {name: (statistics.median(r[0] for r in rs), min(r[0] for r in rs), max(r[1] for r in rs),
                           statistics.median(r[2] for r in rs)) for name, rs in runs.items()}
            results.append(row)
            load.append(os.getloadavg()[0])
            print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        if state:
            kafkactl.down(state)
    print(report(results, load))


def report(results: list[dict], load: list[float]) -> str:
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}; 1-minute load average {min(load):.1f}-{max(load):.1f} during the run",
        "",
        "| records | reader | seconds (median) | best | records/s (median) | peak RSS (MB) | CPU seconds | vs C loop |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in results:
        limit = row["records"] / row["C loop (librdkafka), 4 MiB fetch"][0]
        for name in row:
            if name in ("records", "zstd"):
                continue
            secs, best, rss, cpu = row[name]
            rate = row["records"] / secs
            lines.append(f"| {row['records']:,} | {name} | {secs:.1f} | {best:.1f} | {rate:,.0f} | {rss / 1e6:,.0f} | "
                         f"{cpu:.1f} | {rate / limit:.2f}x |")
        native, python = row[NATIVE][0], row[PYTHON][0]
        kcat = min(v[0] for k, v in row.items() if k.startswith("kcat")) if any(k.startswith("kcat") for k in row) else None
        lines.append(f"| {row['records']:,} | native vs python: {python / native:.2f}x, "
                     f"vs python as at issue 18: {row[PYTHON_BEFORE][0] / native:.2f}x"
                     + (f", native vs best kcat: {kcat / native:.2f}x" if kcat else "") + " | | | | | | |")
    lines += ["", "| records | zstd level | writer seconds | CPU seconds | MB |", "|---|---:|---:|---:|---:|"]
    for row in results:
        for level, (secs, cpu, size) in row["zstd"].items():
            lines.append(f"| {row['records']:,} | {level} | {secs:.1f} | {cpu:.1f} | {size / 1e6:,.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
