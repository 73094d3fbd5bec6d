"""`evkit replay`: a dataset, or a part of it, produced again to a cluster (docs/sharing.md).

Keys, values (null and empty kept apart), headers and timestamps as recorded, in offset order per
partition, through an idempotent producer; each record to the partition it came from, to the one a
named partitioner (`evkit partition`'s names) gives its key, or to the producer's default. Before
anything is sent the targets are checked: they exist, are empty (or `allow_non_empty`), have the
partitions needed, and are not on the cluster the dataset was dumped from (unless
`i_know_this_is_the_source_cluster`).
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._progress import Progress
from ..errors import ClusterError, UnknownTopic, UsageError
from ..partitioning.hashes import PARTITIONERS, partition_keys
from .diff import PROVENANCE_HEADER, parse_topic_map

log = logging.getLogger("evkit.replay")
PARTITIONING = ("same", "default", *PARTITIONERS)
TIMESTAMPS = ("recorded", "now")
BATCH = 20_000
PACE_EVERY = 100  # records between checks of --max-rate
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(/s|records/s|MB/s)?\s*$", re.I)


@dataclass
class ReplayPlan:
    """One source partition's share: where it goes, how many records and bytes, its offsets."""

    topic: str
    partition: int
    target_topic: str
    target_partition: str  # a number ("same"), a partitioner's name, or "default"
    records: int
    first_offset: int
    last_offset: int
    bytes: int


@dataclass
class ReplayResult:
    """What `replay` did (or, with dry_run, would do)."""

    dataset: str
    target: str
    plan: list[ReplayPlan] = field(default_factory=list)
    dry_run: bool = False
    sent: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def plan_text(self) -> str:
        """The plan as a table, one line per source partition."""
        lines = [f"replay {self.dataset} -> {self.target}:",
                 f"  {'source':<30} {'target':<30} {'records':>10} {'offsets':>21} {'MB':>8}"]
        for p in self.plan:
            target = p.target_partition if not p.target_partition.isdigit() else f"partition {p.target_partition}"
            lines.append(f"  {p.topic + '/' + str(p.partition):<30} {p.target_topic + ' (' + target + ')':<30} "
                         f"{p.records:>10,} {f'[{p.first_offset}, {p.last_offset}]':>21} {p.bytes / 1e6:>8.1f}")
        lines.append(f"  total: {sum(p.records for p in self.plan):,} records")
        return "\n".join(lines)

    def summary_line(self) -> str:
        if self.dry_run:
            return "dry run: nothing sent"
        rate = self.sent / self.seconds if self.seconds else 0.0
        return f"replayed {self.sent:,} records ({self.bytes / 1e6:,.1f} MB) to {self.target} in {self.seconds:.1f}s ({rate:,.0f} records/s)"


def parse_rate(max_rate: str | float | None) -> tuple[float, str] | None:
    """`1000`, `1000/s` (records per second) or `5MB/s` as (number, "records" | "bytes") per second."""
    if max_rate is None:
        return None
    match = _RATE.match(str(max_rate))
    if not match or float(match.group(1)) <= 0:
        raise UsageError(f"--max-rate {max_rate!r}: expected records per second (1000 or 1000/s) or MB/s (5MB/s), above 0")
    if (match.group(2) or "").lower() == "mb/s":
        return float(match.group(1)) * 1e6, "bytes"
    return float(match.group(1)), "records"


def _selection(topics: Iterable[str] | None, start: str | int | None, end: str | int | None) -> str:
    """The SQL condition over `records` for the topics, partitions and range to replay."""
    from ..analysis.fields import sql_string
    from ..cluster.ranges import parse_position, parse_topic

    conditions = []
    if topics:
        alternatives = []
        for selector in map(parse_topic, topics):
            name = (f"topic = {sql_string(selector.name)}" if selector.pattern is None
                    else f"regexp_full_match(topic, {sql_string(selector.pattern.pattern)})")
            if selector.partitions is not None:
                name += f" AND partition IN ({', '.join(map(str, sorted(selector.partitions)))})"
            alternatives.append(f"({name})")
        conditions.append(f"({' OR '.join(alternatives)})")
    for value, op, option in ((start, ">=", "--start"), (end, "<", "--end")):
        if value is None:
            continue
        position = parse_position(value)
        if position.kind == "offset":
            conditions.append(f'"offset" {op} {position.value}')
        elif position.kind == "timestamp":
            conditions.append(f"timestamp {op} epoch_ms({position.value})")
        else:
            raise UsageError(f"{option} {value!r}: replay takes an offset, an ISO-8601 time or @EPOCH_MS")
    return " AND ".join(conditions) or "true"


def replay(
    dataset: str | Path,
    *,
    to: str | None,
    topic_map: Mapping[str, str] | Iterable[str] | None = None,
    topics: Iterable[str] | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    where: str | None = None,
    config: str | Path | Mapping | None = None,
    partitioning: str = "same",
    timestamps: str = "recorded",
    max_rate: str | float | None = None,
    provenance: bool = True,
    allow_non_empty: bool = False,
    i_know_this_is_the_source_cluster: bool = False,
    client_config: dict[str, str] | list[str] | tuple[str, ...] | None = None,
    client_config_file: str | Path | None = None,
    timeout: float = 30.0,
    dry_run: bool = False,
    quiet: bool = False,
) -> ReplayResult:
    """Produce the selected records of `dataset` to the cluster `to`; return what was sent.

    `topics` (selectors as dump takes them: `bets`, `bets:0,2`, `/re/`), `start`/`end` (offsets, or
    times as ISO-8601 / @epoch-ms) and `where` (SQL over the `events` view, with `config`'s field
    mapping) choose the records. `topic_map` renames topics (`bets=staging.bets`). `partitioning`:
    `same` (the recorded partition), `default` (the producer's), or a partitioner name.
    `timestamps`: `recorded` or `now`. `max_rate`: records/s (`1000`) or `5MB/s`. With `provenance`
    every record gets the header `evkit-replay: <dataset>:<topic>/<partition>@<offset>`."""
    from ..analysis.session import open as open_dataset
    from ..cluster.connection import Connection, admin_settings, resolve_client_config

    if partitioning not in PARTITIONING:
        raise UsageError(f"--partitioning must be one of {', '.join(PARTITIONING)}, not {partitioning!r}")
    if timestamps not in TIMESTAMPS:
        raise UsageError(f"--timestamps must be recorded or now, not {timestamps!r}")
    rate = parse_rate(max_rate)
    mapped = parse_topic_map(topic_map)
    settings = resolve_client_config(to, client_config=client_config, client_config_file=client_config_file)
    name = Path(dataset).resolve().name
    with open_dataset(dataset, config=config, quiet=quiet) as analysis:
        condition = _selection(topics, start, end)
        source = "records" if not where else (
            f'(SELECT r.* FROM records r SEMI JOIN (SELECT cluster_id, topic, partition, "offset" FROM events '
            f'WHERE {where}) e USING (cluster_id, topic, partition, "offset"))')
        try:
            rows = analysis.sql(f'SELECT topic, partition, count(*), min("offset"), max("offset"), '
                                f"coalesce(sum(key_size), 0) + coalesce(sum(value_size), 0) FROM {source} "
                                f"WHERE {condition} GROUP BY ALL ORDER BY ALL").fetchall()
        except Exception as exc:  # noqa: BLE001 - DuckDB rejects the user's --where
            raise UsageError(f"--where / --topic / --start / --end select nothing readable: {str(exc).splitlines()[0]}") from None
        unknown = sorted(set(mapped) - {row[0] for row in analysis.sql("SELECT DISTINCT topic FROM records").fetchall()})
        if unknown:
            raise UsageError(f"--topic-map names {', '.join(unknown)}, not in {dataset}")
        cluster_ids = {ds.cluster_id for ds in analysis.datasets}
        result = ReplayResult(str(dataset), settings["bootstrap.servers"], dry_run=dry_run)
        result.plan = [ReplayPlan(t, p, mapped.get(t, t), str(p) if partitioning == "same" else partitioning, n, lo, hi, b)
                       for t, p, n, lo, hi, b in rows]
        conn = Connection(settings, isolation="read_uncommitted", timeout=timeout)
        try:
            _check_targets(conn, result.plan, cluster_ids, allow_non_empty=allow_non_empty,
                           source_cluster_ok=i_know_this_is_the_source_cluster, same=partitioning == "same")
            counts = {t: len(conn.metadata(t).topics[t].partitions) for t in {p.target_topic for p in result.plan}}
        finally:
            conn.close()
        if dry_run or not result.plan:
            return result
        reader = analysis.connection.sql(
            f'SELECT topic, partition, "offset", epoch_ms(timestamp) AS ts, key, value, headers, '
            f"coalesce(key_size, 0) + coalesce(value_size, 0) AS size FROM {source} WHERE {condition} "
            'ORDER BY topic, partition, "offset"').to_arrow_reader(BATCH)
        _produce(reader, admin_settings(settings), result, mapped, counts, partitioning=partitioning,
                 timestamps=timestamps, rate=rate, provenance=name if provenance else None, quiet=quiet)
    return result


def _check_targets(conn, plan: list[ReplayPlan], cluster_ids: set[str], *, allow_non_empty: bool,
                   source_cluster_ok: bool, same: bool) -> None:
    """Refuse, in one line, a target that does not exist, has records, lacks partitions or is the source."""
    metadata = conn.metadata()
    if metadata.cluster_id in cluster_ids and not source_cluster_ok:
        raise UsageError(f"{conn.config['bootstrap.servers']} is the cluster the dataset was dumped from "
                         f"({metadata.cluster_id}); replay to another cluster, or pass "
                         "--i-know-this-is-the-source-cluster")
    needed: dict[str, int] = {}
    for p in plan:
        needed[p.target_topic] = max(needed.get(p.target_topic, 0), p.partition + 1 if same else 1)
    for topic, partitions in sorted(needed.items()):
        found = conn.metadata(topic).topics.get(topic)
        if found is None or found.error is not None:
            raise UnknownTopic(f"target topic {topic} does not exist on {conn.config['bootstrap.servers']}; create it "
                               f"(with at least {partitions} partitions): replay never creates topics")
        if len(found.partitions) < partitions:
            raise UsageError(f"target topic {topic} has {len(found.partitions)} partitions; replaying to the same "
                             f"partitions needs {partitions} (or --partitioning default / a partitioner name)")
        if not allow_non_empty:
            held = sum(high - low for low, high in (conn.watermarks(topic, n) for n in found.partitions))
            if held:
                raise UsageError(f"target topic {topic} already holds {held} record(s); replay into an empty topic, "
                                 "or pass --allow-non-empty")


def _pace(rate: tuple[float, str], result: ReplayResult, started: float) -> None:
    """Sleep while what was sent is ahead of `rate` (records or bytes per second)."""
    ahead = (result.sent if rate[1] == "records" else result.bytes) / rate[0] - (time.monotonic() - started)
    if ahead > 0:
        time.sleep(ahead)


def _produce(reader, client_config: dict[str, str], result: ReplayResult, mapped: dict[str, str],
             counts: dict[str, int], *, partitioning: str, timestamps: str, rate: tuple[float, str] | None,
             provenance: str | None, quiet: bool) -> None:
    """Send the batches in order through an idempotent producer, paced to `rate`; fail in one line
    when any record is not acknowledged."""
    from confluent_kafka import KafkaException, Producer

    try:
        producer = Producer({**client_config, "enable.idempotence": True, "acks": "all", "linger.ms": 20,
                             "client.id": "evkit-replay"}, logger=log)
    except KafkaException as exc:
        raise UsageError(f"invalid client configuration: {exc.args[0].str()}") from None
    failures: list[str] = []

    def delivered(err, msg) -> None:
        if err is not None:
            failures.append(f"{msg.topic()}[{msg.partition()}]: {err.str()}")

    progress = Progress(quiet=quiet)
    progress.start(total=sum(p.records for p in result.plan), unit="records")
    started = time.monotonic()
    try:
        for batch in reader:
            columns = batch.to_pydict()
            n = len(columns["offset"])
            targets = [mapped.get(t, t) for t in columns["topic"]]
            if partitioning == "same":
                partitions = columns["partition"]
            elif partitioning == "default":
                partitions = [-1] * n
            else:
                partitions = np.full(n, -1, dtype=np.int64)
                for target in set(targets):
                    rows = np.flatnonzero(np.array(targets) == target)
                    partitions[rows] = partition_keys([columns["key"][i] for i in rows], counts[target], partitioning)
                partitions = partitions.tolist()
            for i in range(n):
                headers = [(h["key"], h["value"]) for h in columns["headers"][i] or ()]
                if provenance:
                    headers.append((PROVENANCE_HEADER,
                                    f"{provenance}:{columns['topic'][i]}/{columns['partition'][i]}@{columns['offset'][i]}".encode()))
                stamp = columns["ts"][i] if timestamps == "recorded" and columns["ts"][i] is not None else 0
                while True:
                    try:
                        producer.produce(targets[i], value=columns["value"][i], key=columns["key"][i],
                                         partition=partitions[i], timestamp=stamp, headers=headers, on_delivery=delivered)
                        break
                    except BufferError:  # the local queue is full: let deliveries drain it
                        producer.poll(0.1)
                producer.poll(0)
                result.sent += 1
                result.bytes += columns["size"][i]
                if rate is not None and result.sent % PACE_EVERY == 0:
                    _pace(rate, result, started)
            progress.update(n, records=n, data_bytes=sum(columns["size"]))
        remaining = producer.flush(60)
    except KafkaException as exc:
        raise ClusterError(f"cannot produce to {result.target}: {exc.args[0].str()}") from None
    finally:
        progress.close()
    result.seconds = time.monotonic() - started
    if remaining or failures:
        raise ClusterError(f"{remaining + len(failures)} of {result.sent} records were not acknowledged, first: "
                           f"{failures[0] if failures else 'delivery timed out'}; the target holds a partial replay")
