"""Dump throughput: evkit dump vs a bare confluent-kafka loop vs kcat, over the same range, same run.

    .venv/bin/python benchmarks/bench_dump.py [--records 5000000] [--bootstrap HOST:PORT]

Produces N records (~200-byte values, small keys and one header) to a local topic once (reused if
it already holds them), then runs each reader in its own process, one after the other, and
reports records/s, MB/s and the reader's peak RSS. Needs `kcat` (Debian package `kcat`). Without
--bootstrap it starts a private broker with kafka/kafkactl.py. Loopback only.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FETCH = 4 * 1024 * 1024  # evkit's default fetch.message.max.bytes
sys.path.insert(0, str(REPO / "kafka"))
import kafkactl  # noqa: E402

BARE_LOOP = r"""
import sys, time
from confluent_kafka import Consumer, TopicPartition
bootstrap, topic, partitions, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), dict(a.split("=") for a in sys.argv[4:])
c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-throwaway", "enable.auto.commit": False,
              "enable.auto.offset.store": False, "enable.partition.eof": True, "auto.offset.reset": "error", **extra})
c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
done, n, nbytes = set(), 0, 0
while len(done) < partitions:
    for m in c.consume(10000, timeout=1.0):
        if m.error():
            done.add(m.partition())
            continue
        k, v, o, ts, h = m.key(), m.value(), m.offset(), m.timestamp(), m.headers()
        n += 1
        nbytes += len(v)
c.close()
print(n, nbytes)
"""


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


def measured(cmd: list[str], stdout_file: str | None = None) -> tuple[float, int, str]:
    """Run cmd; return (seconds, peak RSS in bytes of the process and its children, stdout)."""
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
    return seconds, usage.ru_maxrss * 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--bootstrap")
    parser.add_argument("--skip-kcat", action="store_true")
    args = parser.parse_args()
    state = None
    bootstrap = args.bootstrap
    if not bootstrap:
        state = Path(tempfile.mkdtemp(prefix="bench-kafka-"))
        bootstrap = kafkactl.up(state)
    results = []
    try:
        for records in args.records:
            topic = f"bench-dump-{records}"
            produce(bootstrap, topic, records, args.partitions)
            row = {"records": records}
            for name, extra in (("bare", []), ("bare, 4 MiB fetch", [f"fetch.message.max.bytes={FETCH}"])):
                secs, rss, out = measured([sys.executable, "-c", BARE_LOOP, bootstrap, topic, str(args.partitions),
                                           *extra])
                assert int(out.split()[0]) == records, (out, records)
                row[name] = (secs, rss)
            if not args.skip_kcat and shutil.which("kcat"):
                for name, extra in (("kcat", []), ("kcat, 4 MiB fetch", ["-X", f"fetch.message.max.bytes={FETCH}"])):
                    with tempfile.TemporaryDirectory() as tmp:
                        secs, rss, _ = measured(
                            ["kcat", "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q", *extra,
                             "-f", r"%k\t%s\t%o\t%T\t%h\n", "-c", str(records)], stdout_file=f"{tmp}/out.txt")
                    row[name] = (secs, rss)
            for name, workers in (("evkit, 1 process", "1"), ("evkit, 2 workers", "2")):
                with tempfile.TemporaryDirectory() as tmp:
                    secs, rss, _ = measured([sys.executable, "-m", "evkit.cli", "dump", "-b", bootstrap, "-o",
                                             f"{tmp}/ds", "-t", topic, "-q", "--workers", workers])
                row[name] = (secs, rss)
            results.append(row)
            print(json.dumps(row), file=sys.stderr)
    finally:
        if state:
            kafkactl.down(state)
    print(report(results))


def report(results: list[dict]) -> str:
    lines = [
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{platform.platform()}",
        "",
        "| records | reader | seconds | records/s | peak RSS (MB) | vs bare loop |",
        "|---|---|---|---|---|---|",
    ]
    for row in results:
        bare = row["records"] / row["bare"][0]
        for name in row:
            if name == "records":
                continue
            secs, rss = row[name]
            rate = row["records"] / secs
            lines.append(f"| {row['records']:,} | {name} | {secs:.1f} | {rate:,.0f} | {rss / 1e6:,.0f} | "
                         f"{rate / bare:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
