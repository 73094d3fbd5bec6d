"""Benchmark: the expected partition of N keys under every partitioner (evkit.partitioning.hashes: its C kernel
over the Arrow buffers, on every core and on one, and its NumPy fallback) against calling
librdkafka's own functions per key in a Python loop.

    .venv/bin/python benchmarks/bench_partitioners.py --keys 10000000

Baselines, measured in the same run: `confluent_kafka.murmur2(key, n)` per key (one partitioner),
and `murmur2`, `consistent` and `fnv1a` per key (every partitioner librdkafka exposes). Two key
sets: fixed-width ids (`customer-0000001`, 16 bytes) and mixed lengths (4 to 28 bytes). Each
measurement is the best and the median of --repeat runs, baselines and evkit interleaved so a busy
machine slows both alike. Run by hand; the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from unittest import mock

import pyarrow as pa
from confluent_kafka import consistent, fnv1a, murmur2

import evkit.partitioning.hashes
from evkit.partitioning.hashes import PARTITIONERS, partition_all, partition_keys

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


def on_one_core(keys: pa.Array) -> None:
    with mock.patch("os.cpu_count", return_value=1):
        partition_all(keys, PARTITIONS)


def with_numpy(keys: pa.Array) -> None:
    """The fallback used where evkit was installed without a C compiler."""
    with mock.patch.object(evkit.partitioning.hashes, "_native", None):
        partition_all(keys, PARTITIONS)


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if evkit.partitioning.hashes._native is None:
        parser.error("evkit/partitioning/_hashes.c is not built: install a C compiler and reinstall evkit")
    print(f"{options.keys:,} keys, {PARTITIONS} partitions; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, load {os.getloadavg()[0]:.1f}")
    print("| keys | what | best s | median s | keys/s (best) | baseline / this (best) | (median) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for label, keys in key_sets(options.keys).items():
        column = pa.array(keys, type=pa.binary())
        runs = {
            "loop: confluent_kafka.murmur2 per key": (murmur2_loop, keys),
            "loop: murmur2 + consistent + fnv1a per key": (librdkafka_loop, keys),
            "evkit: java_murmur2": (partition_keys, column, PARTITIONS, "java_murmur2"),
            f"evkit: all {len(PARTITIONERS)} partitioners": (partition_all, column, PARTITIONS),
            f"evkit: all {len(PARTITIONERS)}, one thread": (on_one_core, column),
            f"evkit: all {len(PARTITIONERS)}, NumPy fallback": (with_numpy, column),
        }
        seconds = {name: [] for name in runs}
        for _ in range(options.repeat):
            for name, (function, *args) in runs.items():
                seconds[name].append(timed(function, *args))
        best = {name: min(times) for name, times in seconds.items()}
        median = {name: statistics.median(times) for name, times in seconds.items()}
        baseline = "loop: confluent_kafka.murmur2 per key"
        for name in runs:
            print(f"| {label} | {name} | {best[name]:.2f} | {median[name]:.2f} | {options.keys / best[name] / 1e6:.1f} M "
                  f"| {best[baseline] / best[name]:.2f} | {median[baseline] / median[name]:.2f} |")


if __name__ == "__main__":
    main()
