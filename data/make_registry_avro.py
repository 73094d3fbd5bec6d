"""Write `data/registry-avro/`: a tiny dataset of one Avro topic in the Schema Registry wire format,
with its schemas stored, for notebooks/registry_formats.ipynb (no Kafka and no registry needed).

    .venv/bin/python data/make_registry_avro.py data/registry-avro

Topic `bets`, 2 partitions, 80 records keyed by user id: schema 1 (a nested `user` record, a
`placed_at` timestamp-millis, a decimal `stake`) until the deploy at 19:02, then schema 2 (adds
`currency` with a default). Injected: bet u3-4 stored twice (a logical duplicate), user u2's
sequence 6 never sent (a gap), and user u7's last value cut short (a corrupt payload, counted as undecodable).
Deterministic: the run id and times are fixed.
"""
from __future__ import annotations

import io
import json
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import fastavro

from evkit.schemas.store import StoredSchema, write_schema
from evkit.store.records import record_table
from evkit.store.writer import write_records

BASE = datetime(2025, 11, 22, 19, 0, tzinfo=timezone.utc)
V1 = {"type": "record", "name": "Bet", "namespace": "sample", "fields": [
    {"name": "bet_id", "type": "string"},
    {"name": "user", "type": {"type": "record", "name": "User", "fields": [
        {"name": "id", "type": "string"}, {"name": "country", "type": "string"}]}},
    {"name": "seq", "type": "long"},
    {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "stake", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "currency", "type": "string", "default": "EUR"}]}
SCHEMAS = {1: V1, 2: V2}
USERS = [f"u{n}" for n in range(8)]


def framed(schema_id: int, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMAS[schema_id]), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def records() -> list[dict]:
    """Ten bets per user, one every 15 s; users u0-u3 on partition 0, u4-u7 on partition 1."""
    out = []
    for seq in range(1, 11):
        for n, user in enumerate(USERS):
            if user == "u2" and seq == 6:
                continue  # the lost event
            at = BASE + timedelta(seconds=15 * seq + n)
            schema_id = 1 if at < BASE + timedelta(minutes=2) else 2
            record = {"bet_id": f"{user}-{seq}", "user": {"id": user, "country": "IE" if n % 2 else "GB"}, "seq": seq,
                      "placed_at": at, "stake": Decimal(f"{5 + n}.50"), "currency": "GBP" if n % 2 == 0 else "EUR"}
            copies = 2 if (user, seq) == ("u3", 4) else 1  # a producer retry: the same bet stored twice
            out += [{"partition": n // 4, "key": user.encode(), "at": at, "value": framed(schema_id, record)}
                    for _ in range(copies)]
    out[-1]["value"] = out[-1]["value"][:-3]  # u7's last bet, cut short: undecodable (and so no gap after it)
    return out


def make(root: Path) -> None:
    rows = records()
    offsets = {0: 0, 1: 0}
    for row in rows:
        row["offset"] = offsets[row["partition"]]
        offsets[row["partition"]] += 1
    table = record_table(topic=["bets"] * len(rows), partition=[r["partition"] for r in rows],
                         offset=[r["offset"] for r in rows], timestamp=[r["at"] for r in rows],
                         timestamp_type=["create"] * len(rows), key=[r["key"] for r in rows],
                         value=[r["value"] for r in rows], headers=[None] * len(rows), leader_epoch=[0] * len(rows))
    write_records(root, table, cluster_id="sample-registry", run_id="20251122T192000000000Z-avro01",
                  partition_counts={"bets": 2})
    for schema_id, schema in SCHEMAS.items():
        write_schema(root, StoredSchema(schema_id, "bets-value", schema_id, "AVRO", json.dumps(schema)))


if __name__ == "__main__":
    make(Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "registry-avro"))
