"""Benchmark: `evkit diff` of two N-record datasets, wall time and peak memory, at several sizes.

    .venv/bin/python benchmarks/bench_diff.py --records 1000000 10000000 --work /tmp/bench-diff --memory-limit 2GB

A is bench_checks' clean stream (~250-byte JSON values, 12 partitions); B is the same stream with
every 10,007th value of each partition replaced, so each identity has differences to find. Each
measured diff is a child process that reports its wall time and peak RSS (ru_maxrss); memory is
flat when the peak stays the same from the smallest size to the largest. Run by hand; the figures
go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
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


def child(a: str, b: str, identity: str, memory_limit: str | None) -> None:
    import evkit

    started = time.perf_counter()
    report = evkit.diff(a, b, identity=identity, memory_limit=memory_limit, quiet=True, limit=10)
    print(json.dumps({"seconds": time.perf_counter() - started, "counts": report.counts(),
                      "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def measure(a: Path, b: str, identity: str, memory_limit: str | None) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", str(a), str(b), identity, memory_limit or ""],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] or None)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-diff"))
    parser.add_argument("--memory-limit", default="2GB")
    parser.add_argument("--identities", nargs="+", default=["content", "position"])
    args = parser.parse_args()
    for records in args.records:
        a, b = generate_pair(args.work, records)
        baseline = measure(a, a, "position", args.memory_limit)  # A against itself: the reading alone
        print(f"{records:>11,} records, A vs A (position): {baseline['seconds']:6.1f}s, peak {baseline['peak_mb']:6.0f} MB")
        for identity in args.identities:
            result = measure(a, b, identity, args.memory_limit)
            print(f"{records:>11,} records, A vs B ({identity}): {result['seconds']:6.1f}s, peak {result['peak_mb']:6.0f} MB, "
                  f"{result['counts']}", flush=True)


if __name__ == "__main__":
    main()
