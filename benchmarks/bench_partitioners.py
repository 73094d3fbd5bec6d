"""Benchmark: the expected partition of N keys under every partitioner (evkit.partitioners, NumPy over
the Arrow buffers) against calling librdkafka's own functions per key in a Python loop.

    .venv/bin/python benchmarks/bench_partitioners.py --keys 10000000

Baselines, measured in the same run: `confluent_kafka.murmur2(key, n)` per key (one partitioner),
and `murmur2`, `consistent` and `fnv1a` per key (every partitioner librdkafka exposes). Two key
sets: fixed-width ids (`customer-0000001`, 16 bytes) and mixed lengths (4 to 28 bytes). Each
measurement is the best of --repeat runs, baselines and evkit interleaved so a busy machine slows
both alike. Run by hand; the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import pyarrow as pa
from confluent_kafka import consistent, fnv1a, murmur2

from evkit.partitioners import PARTITIONERS, partition_all, partition_keys

PARTITIONS = 12


def key_sets(count: int) -> dict[str, list[bytes]]:
    prefixes = ["", "user-", "order:2026-11-27/"]
    return {
        "fixed-width (16 B)": [f"customer-{i:07d}".encode() for i in range(count)],
        "mixed (4-28 B)": [f"{prefixes[i % 3]}{i:04d}".encode() for i in range(count)],
    }


def murmur2_loop(keys: list[bytes]) -> None:
    for key in keys:
        murmur2(key, PARTITIONS)


def librdkafka_loop(keys: list[bytes]) -> None:
    for key in keys:
        murmur2(key, PARTITIONS)
        consistent(key, PARTITIONS)
        fnv1a(key, PARTITIONS)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    print(f"{options.keys:,} keys, {PARTITIONS} partitions; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print("| keys | what | seconds | keys/s | baseline / this |")
    print("|---|---|---:|---:|---:|")
    for label, keys in key_sets(options.keys).items():
        column = pa.array(keys, type=pa.binary())
        runs = {
            "loop: confluent_kafka.murmur2 per key": (murmur2_loop, keys),
            "loop: murmur2 + consistent + fnv1a per key": (librdkafka_loop, keys),
            "evkit: java_murmur2": (partition_keys, column, PARTITIONS, "java_murmur2"),
            f"evkit: all {len(PARTITIONERS)} partitioners": (partition_all, column, PARTITIONS),
        }
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(options.repeat):
            for name, (function, *args) in runs.items():
                best[name] = min(best[name], timed(function, *args))
        baseline = best["loop: confluent_kafka.murmur2 per key"]
        for name, seconds in best.items():
            print(f"| {label} | {name} | {seconds:.2f} | {options.keys / seconds / 1e6:.1f} M | {baseline / seconds:.2f} |")


if __name__ == "__main__":
    main()
