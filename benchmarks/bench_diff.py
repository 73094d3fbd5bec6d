"""Benchmark: `evkit diff` of two N-record datasets, wall time and peak memory, at several sizes.

    .venv/bin/python benchmarks/bench_diff.py --records 1000000 10000000 --work /tmp/bench-diff --memory-limit 2GB

A is bench_checks' clean stream (~250-byte JSON values, 12 partitions); B is the same stream with
every 10,007th value of each partition replaced, so each identity has differences to find. The
baseline of each size, in the same run, is the floor of any diff: verifying both datasets and
reading the compared columns once with DuckDB, hashing them (no matching). Each measured run is a
child process that reports its wall time, CPU time (the machine is shared: CPU seconds say what
the work costs, wall seconds what the load left of it) and peak RSS (ru_maxrss); memory is flat
when the peak stays the same from the smallest size to the largest. `--old-sql FILE` adds runs of
the diff with an older evkit/analysis/sql/diff.sql (`git show REV:evkit/analysis/sql/diff.sql`),
in the same run, for a ratio of new to old. Run by hand; the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import bench_checks

CHANGED_EVERY = 10_007


def generate_pair(work: Path, records: int) -> tuple[Path, Path]:
    a, b = work / f"a-{records}", work / f"b-{records}"
    if not a.exists():
        bench_checks.generate(a, records)
    if not b.exists():
        clean = bench_checks.RECORDS_SQL
        bench_checks.RECORDS_SQL = (f"SELECT * REPLACE (CASE WHEN \"offset\" % {CHANGED_EVERY} = 0 "
                                    f"THEN encode('changed') ELSE value END AS value) FROM ({clean})")
        try:
            bench_checks.generate(b, records)
        finally:
            bench_checks.RECORDS_SQL = clean
    return a, b


def read_floor(a: str, b: str, memory_limit: str | None) -> dict:
    """Verify both datasets and read the columns a diff compares once, hashed: what no diff can beat."""
    import tempfile

    import duckdb

    from evkit.analysis.verify import load_dataset

    config = {"temp_directory": tempfile.mkdtemp(prefix="bench-diff-"), **({"memory_limit": memory_limit} if memory_limit else {})}
    con = duckdb.connect(config=config)
    for path in (a, b):
        files = [str(f) for f in load_dataset(path, quiet=True).files]
        con.execute('SELECT count(*), sum(hash(topic, partition, "offset", timestamp)), sum(hash(key IS NULL, key)), '
                    "sum(hash(value IS NULL, value)), sum(hash(headers)) FROM read_parquet(?)", [files]).fetchall()
    return {}


def child(a: str, b: str, identity: str, memory_limit: str | None, sql: str | None) -> None:
    import evkit

    if sql:
        use_sql(sql)

    started = time.perf_counter()
    if identity == "read":
        counts = read_floor(a, b, memory_limit)
    else:
        fields = {"event_id": "$.event_id"} if identity == "event_id" else None
        counts = evkit.diff(a, b, identity=identity, fields=fields, memory_limit=memory_limit, quiet=True, limit=10).counts()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": time.perf_counter() - started, "cpu": usage.ru_utime + usage.ru_stime, "counts": counts,
                      "peak_mb": usage.ru_maxrss / 1024}))


def use_sql(path: str) -> None:
    """Sessions load diff.sql from PATH (an older version) instead of evkit's."""
    from evkit.analysis.session import Analysis

    use = Analysis.use

    def older(self, name: str) -> None:
        if name != "diff" or name in self._loaded:
            return use(self, name)
        self.connection.execute(Path(path).read_text())
        self._loaded.add(name)

    Analysis.use = older


def measure(a: Path, b: Path, identity: str, memory_limit: str | None, sql: Path | None = None) -> dict:
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, __file__, "--child", str(a), str(b), identity, memory_limit or "", str(sql or "")],
                         capture_output=True, text=True, check=True).stdout
    return {**json.loads(out.splitlines()[-1]), "load": f"{load:.0f}-{os.getloadavg()[0]:.0f}"}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None, sys.argv[6] or None)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-diff"))
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--identities", nargs="+", default=["content", "position"])
    parser.add_argument("--old-sql", type=Path, help="also diff A vs B with this (older) diff.sql, same run")
    args = parser.parse_args()
    for records in args.records:
        a, b = generate_pair(args.work, records)
        floor = None
        runs = [("read A and B (baseline)", b, "read", None), ("A vs A (position)", a, "position", None),
                *((f"A vs B ({identity})", b, identity, None) for identity in args.identities),
                *((f"A vs B ({identity}, old)", b, identity, args.old_sql) for identity in args.identities if args.old_sql)]
        for name, other, identity, sql in runs:
            result = measure(a, other, identity, args.memory_limit, sql)
            floor = floor or result
            print(f"{records:>11,} records, {name:<26}: {result['seconds']:7.1f}s wall ({result['seconds'] / floor['seconds']:4.2f}x), "
                  f"{result['cpu']:7.1f}s CPU ({result['cpu'] / floor['cpu']:4.2f}x), peak {result['peak_mb']:6.0f} MB, "
                  f"load {result['load']}, {result['counts'] or ''}", flush=True)


if __name__ == "__main__":
    main()
