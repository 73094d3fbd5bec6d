"""Benchmark: what counting schema ids costs a dump (evkit/schemas/wire.py), per 10,000-record batch.

    .venv/bin/python benchmarks/bench_wire.py --records 1000000

Batches like the dump's (~200-byte values, 7-byte keys, one header per record) in three framings:
plain JSON, Confluent-framed values of three schema ids, and the id in a `__value_schema_id` header.
Measured in the same run: `schema_ids` on each batch; building the batch's record table from the
consumed fields (`record_table`, work the dump does for every batch anyway); and a per-record Python
loop over the first 5 bytes (the obvious alternative). Run by hand; figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import Counter

from evkit.schemas.wire import schema_ids
from evkit.store.records import record_table

BATCH = 10_000


def batch_fields(kind: str, start: int) -> dict:
    values, headers = [], []
    for i in range(start, start + BATCH):
        body = json.dumps({"event_id": f"e-{i:012d}", "user": f"u-{i % 997}", "amount": i % 1000 / 7,
                           "pad": "x" * 120}).encode()
        if kind == "confluent":
            values.append(b"\x00" + (1 + i % 3).to_bytes(4, "big") + body)
            headers.append([("producer", b"node")])
        elif kind == "header":
            values.append(body)
            headers.append([("__value_schema_id", b"\x00" + (1 + i % 3).to_bytes(4, "big"))])
        else:
            values.append(body)
            headers.append([("producer", b"node")])
    n = len(values)
    return dict(topic=["t"] * n, partition=[0] * n, offset=list(range(start, start + n)), timestamp=[0] * n,
                timestamp_type=["create"] * n, key=[f"k{i % 99999:06d}".encode() for i in range(start, start + n)],
                value=values, headers=headers, leader_epoch=[0] * n)


def python_loop(values: list[bytes]) -> Counter:
    counts: Counter = Counter()
    for value in values:
        if value is not None and len(value) >= 5 and value[0] == 0:
            counts[int.from_bytes(value[1:5], "big")] += 1
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    batches = args.records // BATCH
    print(f"{args.records:,} records in {batches} batches of {BATCH:,}; load average {os.getloadavg()[0]:.2f}")
    print("| framing | record_table (baseline) rec/s | schema_ids rec/s | schema_ids / record_table time | per-record Python loop rec/s |")
    print("|---|---:|---:|---:|---:|")
    for kind in ("plain", "confluent", "header"):
        fields = [batch_fields(kind, b * BATCH) for b in range(min(batches, 20))]  # 20 distinct batches, reused
        build = count = loop = 0.0
        for b in range(batches):
            f = fields[b % len(fields)]
            t0 = time.perf_counter()
            table = record_table(**f)
            t1 = time.perf_counter()
            schema_ids(table)
            t2 = time.perf_counter()
            python_loop(f["value"])
            t3 = time.perf_counter()
            build, count, loop = build + t1 - t0, count + t2 - t1, loop + t3 - t2
        n = batches * BATCH
        print(f"| {kind} | {n / build:,.0f} | {n / count:,.0f} | {count / build:.1%} | {n / loop:,.0f} |")


if __name__ == "__main__":
    main()
