"""The decode step: the framed keys and values of the topics whose format needs a schema (`avro`,
`protobuf`, `json_schema`, and `auto` where the dataset stores schemas) are decoded once, when the
dataset is opened, into Arrow IPC files that DuckDB then reads in place.

Per data file: its Parquet record batches (only partition, offset and the decoded columns) are read
one at a time and decoded by two threads (polars-avro, Arrow and NumPy release the GIL) while the
main thread reads the next batch and writes the last one: memory stays bounded by a few batches,
whatever the dataset's size. In a batch the values are grouped by schema id with one sort and one
`take`; each group is a zero-copy slice that its schema's reader decodes at once.

Per data file and part (side, schema id, message type; or a side's failures) one IPC file of
(partition, offset, value) (the value typed, Avro and Protobuf; or JSON text, JSON Schema), or of
(partition, offset, schema_id, reason). The views built over them:

* `decoded_keys`, `decoded_values`: cluster_id, topic, partition, offset, schema_id, `decoded` (the
  value as JSON text) and `failure` (the reason it did not decode): what field sources read;
* `decode_failures`: cluster_id, topic, side, partition, offset, schema_id, reason.

Cache: a data file's decoded files are kept in `<dataset>/_evkit/decoded/<key>/`, where the key is
the sha256 of the file's bytes (hashed here, not taken from the manifest), the formats of
its sides, every stored schema and the decoder's and its libraries' versions; so a second open of
the dataset does not decode again, and a changed file, schema, format or library is a new key,
never a stale entry. An entry appears whole (written aside, then renamed) and is never modified.
Where the dataset is not writable (or on object storage), files decode into the session's private
directory instead. `EVKIT_DECODE_CACHE=0` turns the cache off.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from ..._progress import bar
from ...schemas.store import StoredSchema, load_schemas
from ...store.files import sha256_file
from ...store.fs import ObjectPath, parquet_source
from ...store.layout import META_DIR
from .base import Decoder
from .framing import CORRUPT_PAYLOAD, UNKNOWN_SCHEMA_ID, WRONG_MAGIC_BYTE, WRONG_SCHEMA_TYPE, frames

READERS = {"AVRO": "avro", "PROTOBUF": "protobuf", "JSON": "json_schema"}  # schema type -> module with its Reader
UNREADABLE_SCHEMA = "unreadable_schema"  # a stored schema evkit cannot read (e.g. .proto text)
SIDES = ("key", "value")
BATCH_ROWS = 65_536
WORKERS = 2  # decoding threads: one per core of the machine evkit is sized for
CACHE_DIR = f"{META_DIR}/decoded"
CACHE_VERSION = 1  # raise when the same bytes, formats and schemas decode to something else
FAILURE_SCHEMA = pa.schema([("partition", pa.int32()), ("offset", pa.int64()), ("schema_id", pa.int64()),
                            ("reason", pa.string())])


@dataclass
class Part:
    """What the files of one part hold, and the DuckDB name they are registered under."""

    name: str
    cluster_id: str
    topic: str
    side: str
    schema_id: int | None  # None: failures
    variant: str = ""
    json_text: bool = False
    files: list[Path] = field(default_factory=list, repr=False)


@dataclass
class DecodeStep:
    """What the decode step gives: the parts, the (topic, side) pairs it decoded at all, and how many
    data files it decoded and how many it found in the cache."""

    parts: list[Part] = field(default_factory=list)
    sides: set[tuple[str, str]] = field(default_factory=set)
    decoded_files: int = 0
    cached_files: int = 0

    def typed(self, topic: str, side: str) -> list[Part]:
        return [p for p in self.parts if p.topic == topic and p.side == side and p.schema_id is not None]


class _Readers:
    """The reader of each stored schema, made once per dataset and shared by the threads."""

    def __init__(self):
        self._readers: dict[tuple[int, int], object] = {}
        self._lock = threading.Lock()

    def get(self, index: int, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        """The reader of one stored schema, or the reason it cannot be read (a string)."""
        with self._lock:
            if (index, schema.id) not in self._readers:
                try:
                    module = importlib.import_module(f".{READERS[schema.schema_type]}", __package__)  # heavy: when needed
                    self._readers[(index, schema.id)] = module.Reader(schema, schemas)
                except Exception as exc:  # noqa: BLE001 - a schema evkit cannot read: its values count as undecodable
                    self._readers[(index, schema.id)] = f"{UNREADABLE_SCHEMA}: {exc}"
            return self._readers[(index, schema.id)]


@dataclass
class _File:
    """One data file to decode: which dataset, its topic and the sides (with their decoders) to decode."""

    index: int
    path: Path | ObjectPath
    topic: str
    sides: list[tuple[str, Decoder]]
    rows: int


def decode(connection: duckdb.DuckDBPyConnection, datasets: list, formats: Callable[[str], tuple[Decoder, Decoder]],
           directory: Path, *, quiet: bool = False) -> DecodeStep:
    """Decode, in every dataset, the keys and values whose topic's format needs a schema (from the
    cache where it has them), and create the views decoded_keys, decoded_values and decode_failures
    on `connection`. `directory`: the session's private directory, for what is not cached."""
    schemas = [load_schemas(ds.root) for ds in datasets]
    rows = {ds.root / entry.path: entry.rows for ds in datasets for manifest in ds.manifests
            for partition in manifest.partitions for entry in partition.files}
    work = []
    for index, ds in enumerate(datasets):
        for path in ds.files:
            topic = path.parent.parent.name.removeprefix("topic=")
            sides = [(side, dec) for side, dec in zip(SIDES, formats(topic))
                     if dec.schema_types and (dec.name != "auto" or schemas[index])]
            if sides:
                work.append(_File(index, path, topic, sides, rows.get(path, 0)))
    step = DecodeStep(sides={(item.topic, side) for item in work for side, _ in item.sides})
    readers = _Readers()
    digests = [_schemas_digest(s) for s in schemas]
    parts: dict[tuple, Part] = {}
    with bar(total=sum(item.rows for item in work), desc="decoding", unit=" records", unit_scale=True,
             quiet=quiet) as shown, ThreadPoolExecutor(WORKERS, thread_name_prefix="evkit-decode") as pool:
        for number, item in enumerate(work):
            ds = datasets[item.index]
            cache = _cache_dir(ds.root)
            key = _cache_key(item, digests[item.index]) if cache else None
            entries = _cached(cache / key) if cache else None
            if entries is not None:
                out = cache / key
                step.cached_files += 1
            else:
                out = _target(cache, key, directory / str(number))
                entries = _decode_file(item, schemas[item.index], readers, pool, out)
                out = _commit(cache, key, out, entries)
                step.decoded_files += 1
            for entry in entries:
                where = (ds.cluster_id, item.topic, entry["side"], entry["schema_id"], entry["variant"])
                if where not in parts:
                    parts[where] = Part(f"decoded_{len(parts) + 1}", *where, json_text=entry["json_text"])
                parts[where].files.append(out / entry["file"])
            shown.update(item.rows)
    for part in parts.values():
        connection.register(part.name, pads.dataset([str(f) for f in part.files], format="ipc"))
    step.parts = list(parts.values())
    _create_views(connection, step, overlapping=len(datasets) > 1)
    return step


def _decode_file(item: _File, schemas: dict[int, StoredSchema], readers: _Readers, pool: ThreadPoolExecutor,
                 out: Path) -> list[dict]:
    """Decode one data file into `out`: one IPC file per part; returns what each file holds."""
    columns = ["partition", "offset", *(side for side, _ in item.sides)]
    batches = pq.ParquetFile(parquet_source(item.path)).iter_batches(BATCH_ROWS, columns=columns)
    writers: dict[tuple, ipc.RecordBatchFileWriter] = {}
    entries = []
    try:
        for tables in _in_order(pool, lambda batch: _decode_batch(item, schemas, readers, batch), batches):
            for (side, schema_id, variant, json_text), table in tables:
                writer = writers.get((side, schema_id, variant))
                if writer is None:
                    name = f"{len(writers) + 1}.arrow"
                    writer = writers[(side, schema_id, variant)] = ipc.new_file(out / name, table.schema)
                    entries.append({"side": side, "schema_id": schema_id, "variant": variant, "json_text": json_text,
                                    "file": name})
                writer.write_table(table)
    finally:
        for writer in writers.values():
            writer.close()
    return entries


def _in_order(pool: ThreadPoolExecutor, function: Callable, items: Iterable) -> Iterator:
    """`function` over `items` on the pool's threads, results in order, at most one item per thread
    ahead of the caller: the threads stay busy while only a few batches are held in memory."""
    pending: deque = deque()
    for item in items:
        pending.append(pool.submit(function, item))
        if len(pending) > WORKERS:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _decode_batch(item: _File, schemas: dict[int, StoredSchema], readers: _Readers,
                  batch: pa.RecordBatch) -> list[tuple[tuple, pa.Table]]:
    """One record batch decoded: ((side, schema_id or None for failures, variant, json_text), table) pairs."""
    out = []
    for side, dec in item.sides:
        framed, ids = frames(batch.column(side))
        grouped = batch.select(["partition", "offset", side])
        if ids[0] != ids[-1] or not (ids == ids[0]).all():  # the values of one schema id become one contiguous slice
            order = np.argsort(ids, kind="stable")
            ids, grouped = ids[order], grouped.take(pa.array(order))
        bounds = [*np.flatnonzero(np.diff(ids, prepend=-2)).tolist(), len(ids)]
        failures = []
        for start, end in zip(bounds[:-1], bounds[1:]):
            schema_id, group = int(ids[start]), grouped.slice(start, end - start)
            if schema_id < 0:  # not framed: a null, or for an explicit format a wrong magic byte
                if dec.name != "auto":
                    failures.append((group.filter(group.column(side).is_valid()), WRONG_MAGIC_BYTE))
                continue
            schema = schemas.get(schema_id)
            reader = None if schema is None or schema.schema_type not in dec.schema_types else \
                readers.get(item.index, schema, schemas)
            if reader is None or isinstance(reader, str):
                failures.append((group, UNKNOWN_SCHEMA_ID if schema is None else
                                 WRONG_SCHEMA_TYPE if reader is None else UNREADABLE_SCHEMA))
                continue
            decoded = reader.read(group.column(side))
            if decoded.failed:
                failures.append((group.take(pa.array(decoded.failed, pa.int64())), CORRUPT_PAYLOAD))
            for variant, indices, array in decoded.variants:
                rows = group if len(indices) == len(group) else group.take(pa.array(indices, pa.int64()))
                out.append(((side, schema_id, variant, reader.json_text),
                            pa.table({"partition": rows.column("partition"), "offset": rows.column("offset"),
                                      "value": array})))
        tables = [_failures(rows, side, reason) for rows, reason in failures if len(rows)]
        if tables:
            out.append(((side, None, "", False), pa.concat_tables(tables)))
    return out


def _failures(rows: pa.RecordBatch, side: str, reason: str) -> pa.Table:
    _, ids = frames(rows.column(side))
    return pa.table([rows.column("partition"), rows.column("offset"), pa.array(ids, pa.int64(), mask=ids < 0),
                     pa.array([reason] * len(rows), pa.string())], schema=FAILURE_SCHEMA)


# --- cache ---------------------------------------------------------------------------------------
def _cache_dir(root: Path | ObjectPath) -> Path | None:
    """The dataset's cache directory, or None where there is none (object storage, turned off)."""
    if isinstance(root, ObjectPath) or os.environ.get("EVKIT_DECODE_CACHE", "1") == "0":
        return None
    return root / CACHE_DIR


_LIBRARIES = ("pyarrow", "polars", "polars-avro", "fastavro", "protobuf")


def _cache_key(item: _File, schemas_digest: str) -> str:
    """What a data file's decoded output depends on, hashed: its bytes, formats, schemas, decoder."""
    what = [CACHE_VERSION, [version(name) for name in _LIBRARIES], sha256_file(item.path),
            [(side, dec.name) for side, dec in item.sides], schemas_digest]
    return hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]


def _schemas_digest(schemas: dict[int, StoredSchema]) -> str:
    return hashlib.sha256(json.dumps([s.to_json() for s in schemas.values()]).encode()).hexdigest()


def _cached(entry: Path) -> list[dict] | None:
    """The parts of a complete cache entry, or None (no entry)."""
    try:
        return json.loads((entry / "parts.json").read_text())
    except FileNotFoundError:
        return None


def _target(cache: Path | None, key: str | None, private: Path) -> Path:
    """Where a data file decodes to: aside in the cache (renamed into place when complete), or the
    session's private directory where the dataset is not writable."""
    if cache is not None:
        try:
            out = cache / f".{key}.{uuid.uuid4().hex[:8]}.tmp"
            out.mkdir(parents=True)
            return out
        except OSError:  # a read-only dataset: no cache
            pass
    private.mkdir(parents=True)
    return private


def _commit(cache: Path | None, key: str | None, out: Path, entries: list[dict]) -> Path:
    """Make a decoded file's output a cache entry (if it was written aside for one); its directory."""
    if cache is None or out.parent != cache:
        return out
    (out / "parts.json").write_text(json.dumps(entries))
    final = cache / key
    try:
        out.rename(final)
    except OSError:  # another session cached the same file first: its entry is the same
        shutil.rmtree(out, ignore_errors=True)
    return final


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
