"""The decode step: the framed keys and values of the topics whose format needs a schema (`avro`,
`protobuf`, `json_schema`, and `auto` where the dataset stores schemas) are decoded once, when the
dataset is opened, in batches, into Arrow IPC files in the session's private directory.

Per cluster, topic, side (key or value), schema id and message type one file of (partition, offset,
value): the value typed (Avro, Protobuf) or JSON text (JSON Schema). Per topic and side one file of
failures (partition, offset, schema_id, reason). DuckDB reads them in place (memory-mapped): memory
stays flat whatever the dataset's size. The views built over them:

* `decoded_keys`, `decoded_values`: cluster_id, topic, partition, offset, schema_id, `decoded` (the
  value as JSON text) and `failure` (the reason it did not decode): what field sources read;
* `decode_failures`: cluster_id, topic, side, partition, offset, schema_id, reason.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ..._progress import bar
from .base import Decoder
from .framing import CORRUPT_PAYLOAD, UNKNOWN_SCHEMA_ID, WRONG_MAGIC_BYTE, WRONG_SCHEMA_TYPE, frames
from .schemas import Schema

READERS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json_schema"}  # schema type -> module with its Reader
UNREADABLE_SCHEMA = "unreadable_schema"  # a stored schema evkit cannot read (e.g. .proto text)
SIDES = ("key", "value")
BATCH_ROWS = 65_536
FAILURE_SCHEMA = pa.schema([("partition", pa.int32()), ("offset", pa.int64()), ("schema_id", pa.int64()),
                            ("reason", pa.string())])


@dataclass
class Part:
    """One decoded file: what it holds and the DuckDB name it is registered under."""

    name: str
    cluster_id: str
    topic: str
    side: str
    schema_id: int | None  # None: the failures file
    variant: str = ""
    json_text: bool = False
    path: Path | None = None
    writer: ipc.RecordBatchFileWriter | None = field(default=None, repr=False)


@dataclass
class DecodeStep:
    """What the decode step wrote: the parts, and the (topic, side) pairs it decoded at all."""

    parts: list[Part] = field(default_factory=list)
    sides: set[tuple[str, str]] = field(default_factory=set)

    def typed(self, topic: str, side: str) -> list[Part]:
        return [p for p in self.parts if p.topic == topic and p.side == side and p.schema_id is not None]


class _Run:
    """One decode run over the datasets: readers per schema, open writers per part."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.parts: dict[tuple, Part] = {}
        self.readers: dict[tuple[int, int], object] = {}

    def part(self, key: tuple, schema: pa.Schema, **what) -> Part:
        part = self.parts.get(key)
        if part is None:
            name = f"decoded_{len(self.parts) + 1}"
            part = Part(name, **what, path=self.directory / f"{name}.arrow")
            part.writer = ipc.new_file(part.path, schema)
            self.parts[key] = part
        return part

    def reader(self, index: int, schema: Schema, schemas: dict[int, Schema]):
        """The reader of one stored schema, or the reason it cannot be read (a string)."""
        if (index, schema.id) not in self.readers:
            try:
                module = importlib.import_module(f".{READERS[schema.schema_type]}", __package__)  # heavy: load when needed
                self.readers[(index, schema.id)] = module.Reader(schema, schemas)
            except Exception as exc:  # noqa: BLE001 - a schema evkit cannot read: its values count as undecodable
                self.readers[(index, schema.id)] = f"{UNREADABLE_SCHEMA}: {exc}"
        return self.readers[(index, schema.id)]

    def fail(self, where: dict, partitions: pa.Array, offsets: pa.Array, ids: np.ndarray, rows: np.ndarray,
             reason: str) -> None:
        if not len(rows):
            return
        part = self.part(("failures", where["cluster_id"], where["topic"], where["side"]), FAILURE_SCHEMA,
                         schema_id=None, **where)
        selected = pa.array(rows)
        part.writer.write_table(pa.table([partitions.take(selected), offsets.take(selected),
                                          pa.array(ids[rows], pa.int64(), mask=ids[rows] < 0),
                                          pa.array([reason] * len(rows), pa.string())], schema=FAILURE_SCHEMA))


def decode(connection: duckdb.DuckDBPyConnection, datasets: list, schemas: list[dict[int, Schema]],
           formats: Callable[[str], tuple[Decoder, Decoder]], directory: Path, *, quiet: bool = False) -> DecodeStep:
    """Decode, in every dataset, the keys and values whose topic's format needs a schema, and create
    the views decoded_keys, decoded_values and decode_failures on `connection`."""
    run = _Run(directory)
    work = []  # (dataset index, file, [(side, decoder)])
    for index, ds in enumerate(datasets):
        for path in ds.files:
            topic = path.parent.parent.name.removeprefix("topic=")
            sides = [(side, dec) for side, dec in zip(SIDES, formats(topic))
                     if dec.schema_types and (dec.name != "auto" or schemas[index])]
            if sides:
                work.append((index, path, topic, sides))
    step = DecodeStep()
    for index, path, topic, sides in bar(iterable=work, desc="decoding", unit="file", quiet=quiet):
        ds = datasets[index]
        for batch in pq.ParquetFile(path).iter_batches(BATCH_ROWS, columns=["partition", "offset", *dict(sides)]):
            for side, dec in sides:
                where = {"cluster_id": ds.cluster_id, "topic": topic, "side": side}
                _decode_column(run, index, schemas[index], dec, where, batch)
                step.sides.add((topic, side))
    for part in run.parts.values():
        part.writer.close()
        part.writer = None
        connection.register(part.name, pads.dataset(str(part.path), format="ipc"))
    step.parts = list(run.parts.values())
    _create_views(connection, step, overlapping=len(datasets) > 1)
    return step


def _decode_column(run: _Run, index: int, schemas: dict[int, Schema], dec: Decoder, where: dict,
                   batch: pa.RecordBatch) -> None:
    values = batch.column(where["side"])
    partitions, offsets = batch.column("partition"), batch.column("offset")
    framed, ids = frames(values)
    present = ~np.asarray(values.is_null())
    if dec.name != "auto":  # an explicit format: every value must be framed
        run.fail(where, partitions, offsets, ids, np.flatnonzero(present & ~framed), WRONG_MAGIC_BYTE)
    for schema_id in np.unique(ids[framed]).tolist():
        rows = np.flatnonzero(ids == schema_id)
        schema = schemas.get(schema_id)
        if schema is None:
            run.fail(where, partitions, offsets, ids, rows, UNKNOWN_SCHEMA_ID)
            continue
        if schema.schema_type not in dec.schema_types:
            run.fail(where, partitions, offsets, ids, rows, WRONG_SCHEMA_TYPE)
            continue
        reader = run.reader(index, schema, schemas)
        if isinstance(reader, str):
            run.fail(where, partitions, offsets, ids, rows, UNREADABLE_SCHEMA)
            continue
        decoded = reader.read(values.take(pa.array(rows)))
        run.fail(where, partitions, offsets, ids, rows[np.asarray(decoded.failed, np.int64)], CORRUPT_PAYLOAD)
        for variant, indices, array in decoded.variants:
            selected = pa.array(rows[indices])
            table = pa.table({"partition": partitions.take(selected), "offset": offsets.take(selected), "value": array})
            part = run.part((where["cluster_id"], where["topic"], where["side"], schema_id, variant), table.schema,
                            schema_id=schema_id, variant=variant, json_text=reader.json_text, **where)
            part.writer.write_table(table)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_views(connection: duckdb.DuckDBPyConnection, step: DecodeStep, *, overlapping: bool) -> None:
    for side, view in (("key", "decoded_keys"), ("value", "decoded_values")):
        selects = []
        for part in (p for p in step.parts if p.side == side):
            head = f'{_literal(part.cluster_id)} AS cluster_id, {_literal(part.topic)} AS topic, partition, "offset"'
            if part.schema_id is None:
                selects.append(f"SELECT {head}, schema_id, NULL::VARCHAR AS decoded, reason AS failure FROM {part.name}")
            else:
                text = "value" if part.json_text else "to_json(value)::VARCHAR"
                selects.append(f"SELECT {head}, {part.schema_id}::BIGINT AS schema_id, {text} AS decoded, "
                               f"NULL::VARCHAR AS failure FROM {part.name}")
        union = " UNION ALL ".join(selects) or (
            'SELECT NULL::VARCHAR AS cluster_id, NULL::VARCHAR AS topic, NULL::INTEGER AS partition, NULL::BIGINT AS "offset", '
            "NULL::BIGINT AS schema_id, NULL::VARCHAR AS decoded, NULL::VARCHAR AS failure WHERE false")
        if overlapping:  # two datasets of one cluster may hold the same record: decode it once
            union = f'SELECT DISTINCT ON (cluster_id, topic, partition, "offset") * FROM ({union})'
        connection.execute(f"CREATE OR REPLACE VIEW {view} AS {union}")
    connection.execute(
        "CREATE OR REPLACE VIEW decode_failures AS "
        "SELECT cluster_id, topic, 'key' AS side, partition, \"offset\", schema_id, failure AS reason "
        "FROM decoded_keys WHERE failure IS NOT NULL UNION ALL "
        "SELECT cluster_id, topic, 'value', partition, \"offset\", schema_id, failure FROM decoded_values WHERE failure IS NOT NULL")
