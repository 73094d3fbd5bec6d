"""Benchmark: decoding N Avro records (~200-byte payloads, three schema versions interleaved) into the
analysis, against a per-record `fastavro.schemaless_reader` loop and confluent-kafka's
`AvroDeserializer` in the same run.

    .venv/bin/python benchmarks/bench_decode.py --records 10000000 --work /tmp/bench-decode

The dataset (one partition file per 1M records, schemas stored in `_evkit/schemas/`) is written with
`write_records` from 3000 pre-encoded values. evkit's decode step (what `evkit.open` does before any
query: Parquet -> framed values grouped by schema id -> typed Arrow IPC files) runs in a child
process that reports its wall and CPU time and peak RSS (`getrusage`): first with the cache off (a
real decode), then a first open that fills the dataset's cache and a second open that reads it. The
baselines decode a sample of the same values in this process (their rate is per record and does not
depend on N). On a shared, loaded machine only ratios in the same run mean anything: records per
wall second and per CPU second are both given. Run by hand; figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import json
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import fastavro
import pyarrow as pa

FIELDS = [{"name": "bet_id", "type": "string"}, {"name": "user_id", "type": "string"}, {"name": "seq", "type": "long"},
          {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
          {"name": "stake", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2}},
          {"name": "market", "type": "string"}, {"name": "selection", "type": "string"},
          {"name": "payload", "type": {"type": "record", "name": "Payload", "fields": [
              {"name": "odds", "type": "double"}, {"name": "channel", "type": "string"},
              {"name": "tags", "type": {"type": "array", "items": "string"}}]}}]
VERSIONS = {  # schema id -> schema: v2 adds a field with a default, v3 removes `selection`
    1: {"type": "record", "name": "Bet", "fields": FIELDS},
    2: {"type": "record", "name": "Bet", "fields": FIELDS + [{"name": "currency", "type": "string", "default": "EUR"}]},
    3: {"type": "record", "name": "Bet", "fields": [f for f in FIELDS if f["name"] != "selection"]
        + [{"name": "currency", "type": "string", "default": "EUR"}]},
}
BASE = datetime(2026, 11, 27, tzinfo=timezone.utc)


def encoded(schema_id: int, n: int) -> bytes:
    record = {"bet_id": f"bet-{schema_id}-{n:012d}", "user_id": f"user-{n % 9973:08d}", "seq": n,
              "ts": BASE + timedelta(milliseconds=n), "stake": Decimal("12.50"),
              "market": "football.premier-league.match-odds", "selection": "home-win-at-full-time-after-extra-time-and-penalties",
              "payload": {"odds": 1.5 + n % 7, "channel": "mobile-app-ios-17.4-build-20261127", "tags": ["live", "in-play", "cash-out", "boosted"]},
              "currency": "EUR"}
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(VERSIONS[schema_id]), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def samples() -> list[bytes]:
    """3000 distinct values, the three versions interleaved."""
    return [encoded(1 + n % 3, n) for n in range(3000)]


def generate(root: Path, records: int) -> None:
    from evkit.store.records import record_table
    from evkit.store.writer import write_records

    values = samples()
    per_file = 1_000_000
    tables = []
    for partition, start in enumerate(range(0, records, per_file)):
        count = min(per_file, records - start)
        tables.append(record_table(
            topic=["bets"] * count, partition=pa.array([partition] * count, pa.int32()),
            offset=pa.array(range(count), pa.int64()), timestamp=pa.array(range(count), pa.int64()).cast(pa.timestamp("ms", tz="UTC")),
            timestamp_type=["create"] * count, key=[None] * count,
            value=pa.array([values[n % len(values)] for n in range(count)], pa.binary()),
            headers=[None] * count, leader_epoch=[0] * count))
    write_records(root, pa.concat_tables(tables))
    directory = root / "_evkit" / "schemas"
    directory.mkdir(parents=True, exist_ok=True)
    for schema_id, schema in VERSIONS.items():
        (directory / f"{schema_id}.json").write_text(json.dumps({
            "id": schema_id, "subject": "bets-value", "version": schema_id, "schema_type": "AVRO",
            "schema": json.dumps(schema), "references": []}))


def decode_child(root: str, mode: str) -> None:
    """In a child process: evkit's decode step over the whole dataset (`mode`: off, the cache off; cold,
    the cache emptied first; warm, the cache as the last run left it); prints JSON."""
    import os

    import duckdb

    if mode == "off":
        os.environ["EVKIT_DECODE_CACHE"] = "0"
    from evkit.analysis.decoders import step
    from evkit.analysis.fields import resolve_fields
    from evkit.analysis.verify import load_dataset

    if mode == "cold":
        shutil.rmtree(Path(root) / step.CACHE_DIR, ignore_errors=True)
    dataset = load_dataset(root, verify=False, quiet=True)
    fields = resolve_fields()
    work = Path(root).parent / "decoded"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    connection = duckdb.connect()
    started, cpu = time.perf_counter(), time.process_time()
    result = step.decode(connection, [dataset], fields.decoders, work, quiet=True)
    (decoded,), = connection.execute("SELECT count(*) FROM decoded_values WHERE failure IS NULL").fetchall()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "decoded": decoded, "cached_files": result.cached_files,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def timed(function, values: list[bytes]) -> tuple[float, float]:
    """(records per wall second, records per CPU second) of `function` over `values`."""
    started, cpu = time.perf_counter(), time.process_time()
    function(values)
    return len(values) / (time.perf_counter() - started), len(values) / (time.process_time() - cpu)


def per_record_fastavro(values: list[bytes]) -> None:
    parsed = {i: fastavro.parse_schema(s) for i, s in VERSIONS.items()}
    for value in values:
        stream = io.BytesIO(value)
        stream.seek(5)
        fastavro.schemaless_reader(stream, parsed[int.from_bytes(value[1:5], "big")], None)


def confluent_deserializer(values: list[bytes]) -> None:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    client = SchemaRegistryClient.new_client({"url": "mock://bench"})  # an in-process registry: ids 1, 2, 3
    for schema in VERSIONS.values():
        client.register_schema("bets-value", Schema(json.dumps(schema), "AVRO"))
    deserializer = AvroDeserializer(client)
    context = SerializationContext("bets", MessageField.VALUE)
    for value in values:
        deserializer(value, context)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--baseline-records", type=int, default=300_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-decode"))
    parser.add_argument("--decode-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode_child:
        decode_child(*args.decode_child)
        return
    root = args.work / f"ds-{args.records}"
    if not root.exists():
        started = time.perf_counter()
        generate(root, args.records)
        print(f"generated {args.records:,} records in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    values = samples()
    print(f"payload: {sum(map(len, values)) / len(values):.0f} bytes on average, 3 schema versions")
    sample = [values[n % len(values)] for n in range(args.baseline_records)]
    fast = timed(per_record_fastavro, sample)
    runs = {}
    for mode in ("off", "cold", "warm"):
        child = subprocess.run([sys.executable, __file__, "--decode-child", str(root), mode],
                               capture_output=True, text=True, check=True)
        runs[mode] = json.loads(child.stdout.strip().splitlines()[-1])
    confluent = timed(confluent_deserializer, sample)
    for name, (wall, cpu) in (("fastavro.schemaless_reader per record", fast), ("confluent-kafka AvroDeserializer", confluent)):
        print(f"{name}: {wall:,.0f} records/s, {cpu:,.0f} records per CPU second")
    for mode, what in (("off", "decode step, cache off"), ("cold", "first open, filling the cache"),
                       ("warm", "second open, from the cache")):
        run = runs[mode]
        wall, cpu = run["decoded"] / run["seconds"], run["decoded"] / run["cpu"]
        print(f"evkit {what}: {run['decoded']:,} records in {run['seconds']:.2f} s = {wall:,.0f} records/s "
              f"(x{wall / fast[0]:.1f} fastavro, x{wall / confluent[0]:.1f} AvroDeserializer), {cpu:,.0f} records "
              f"per CPU second (x{cpu / fast[1]:.1f}, x{cpu / confluent[1]:.1f}), cached files {run['cached_files']}, "
              f"peak RSS {run['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
