"""`evkit dump`: exact, read-only, resumable dumps of Kafka topic ranges to a Parquet dataset.

The dump resolves a plan (per partition: watermarks and the range [start, end) to read), shows it,
then reads every partition with assign() - never a group subscription, never a commit - and writes
files that each cover an exact offset range. The run's manifest is written with its plan before
anything is read and completed at the end; in between, the committed files are the progress. So an
interrupted dump (Ctrl-C, kill -9, a lost broker) resumes from the committed files when the same
command is run again, and a later end only reads what the dataset does not hold yet.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from pathlib import Path

import confluent_kafka

from .. import __version__
from .._progress import Progress
from .._text import utc_now
from ..errors import DatasetError, EvkitError, UsageError
from ..schemas.fetch import SchemaCollector, file_schema_ids
from ..schemas.fetch import summary as schemas_summary
from ..schemas.registry import open_registry, redact_settings, split_settings
from ..store.files import remove_temporaries, write_failure
from ..store.fs import as_path
from ..share.mask import Masker, check_dataset_masking, placement_modulus, read_key
from ..share.mask import parse_rules as parse_mask_rules
from ..store.intervals import subtract
from ..store.layout import covered_intervals, file_metadata, parse_file_name, partition_dir, read_identity, write_identity
from ..store.manifest import (CommittedFile, Manifest, PartitionEntry, masking_identity, read_committed,
                              read_manifests, write_manifest)
from ..store.writer import new_run_id
from .connection import Connection, resolve_client_config
from .plan import PartitionPlan, resolve_plan, restored_plan
from .ranges import parse_position_spec, parse_topic
from .reader import ReadOptions, ReadTask, choose_reader
from .workers import default_workers, read

ISOLATION_LEVELS = ("read_committed", "read_uncommitted")
ENGINES = ("local", "spark")
DEFAULT_FILE_SIZE = 128 * 1024 * 1024
DEFAULT_BATCH = 50_000  # per-batch Python is ~15% of a dump's CPU at 10,000 (docs/benchmarks.md)


def dump(
    *,
    bootstrap: str | None,
    out: str | Path,
    topics: list[str] | tuple[str, ...],
    start: str | int | list[str] | None = "beginning",
    end: str | int | list[str] | None = None,
    isolation: str = "read_committed",
    client_config: dict[str, str] | list[str] | tuple[str, ...] | None = None,
    client_config_file: str | Path | None = None,
    max_rate: float | None = None,
    file_size: int = DEFAULT_FILE_SIZE,
    batch_size: int = DEFAULT_BATCH,
    timeout: float = 30.0,
    workers: int | None = None,
    reader: str | None = None,
    dry_run: bool = False,
    schema_registry: str | None = None,
    mask: str | Path | Mapping | None = None,
    mask_key: bytes | str | None = None,
    mask_key_file: str | Path | None = None,
    on_plan: Callable[[list[PartitionPlan], bool], None] | None = None,
    quiet: bool = False,
    engine: str = "local",
    spark_master: str | None = None,
    spark_conf: dict[str, str] | list[str] | tuple[str, ...] | None = None,
) -> Manifest:
    """Dump the selected ranges to the dataset directory `out`; return the run's manifest.

    `topics` are selectors (`orders`, `orders:0,3-5`, `/regex/`); `start`/`end` positions are
    `beginning`, `end`, an offset, `-N` (last N), an ISO-8601 timestamp with zone, `@epoch-ms` or
    `-2h`-style relative times, each optionally overridden per partition (`orders:3=1000`). End is
    exclusive and defaults to the end offset seen when the dump starts (the last stable offset under
    read_committed, the default, so aborted transactions never show up as data). `on_plan(plans,
    resumed)` is called with the resolved plan before anything is read (the CLI prints it). With
    `dry_run=True` nothing is read and the manifest (status `dry_run`) carries only the plan; status
    `nothing_to_do` says the dataset already held the range (`summary_line` words both). A range that
    holds no offset at all (start == end everywhere) is written as a complete, empty run. `workers`
    consumer processes share the partitions (default: one per core for large ranges),
    with the `reader` "native" (Arrow buffers filled in C, the default where it is built) or "python". `mask` (rules,
    docs/sharing.md) with `mask_key`/`mask_key_file` masks every record before it is written. Nothing
    is printed; `quiet=True` also hides the progress bar.
    `schema_registry` (a URL, or `schema.registry.url` in -X/-F, with `schema.registry.*` settings) is
    checked before anything is read; every registry schema the records name is then fetched and
    stored in the dataset (docs/schema-registry.md). Without it, the ids seen are still recorded.
    `engine="spark"` reads the same plan with Spark's Kafka source on `spark_master` (default: the
    active session, spark-submit's master or local[*]) with `spark_conf`, and writes the same
    dataset (docs/scale-out.md).
    """
    if engine not in ENGINES:
        raise UsageError(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if engine != "spark" and (spark_master or spark_conf):
        raise UsageError("--spark-master and --spark-conf need --engine spark")
    if engine == "spark" and (workers is not None or max_rate is not None or mask is not None):
        raise UsageError("--workers, --max-rate and --mask are for the local engine; with --engine spark the "
                         "executors read in parallel (size them with --spark-conf)")
    if engine == "spark":
        from .spark import parse_spark_conf

        spark_conf = parse_spark_conf(spark_conf)
    if isolation not in ISOLATION_LEVELS:
        raise UsageError(f"--isolation must be one of {', '.join(ISOLATION_LEVELS)}, not {isolation!r}")
    if not topics:
        raise UsageError("give at least one --topic")
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if max_rate is not None and max_rate <= 0:
        raise UsageError("--max-rate must be a positive number of MB/s")
    reader = choose_reader(reader)
    masker = Masker(parse_mask_rules(mask), read_key(mask_key, key_file=mask_key_file)) if mask is not None else None
    selectors = [parse_topic(t) for t in topics]
    now_ms = int(time.time() * 1000)
    start_spec = parse_position_spec(start, "beginning", now_ms=now_ms, option="--start")
    end_spec = parse_position_spec(end, "end", now_ms=now_ms, option="--end")
    settings = resolve_client_config(bootstrap, client_config=client_config, client_config_file=client_config_file)
    registry = open_registry(schema_registry, settings)
    if registry is not None:
        registry.check()  # a registry that does not answer fails the dump before any record is read
    out = as_path(out)
    request = {
        "topics": list(topics), "start": _positions(start, "beginning"), "end": _positions(end, "end"),
        "isolation": isolation,
    }
    if masker is not None:  # a resume must mask alike
        request["mask"] = masking_identity(masker.record(placement_modulus=None))
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} exists and is not a directory")

    conn = Connection(split_settings(settings)[0], isolation=isolation, timeout=timeout)
    started_at = utc_now()
    try:
        metadata = conn.metadata()
        cluster_id = metadata.cluster_id
        _check_dataset_identity(out, cluster_id)
        check_dataset_masking(out, masker and masker.record(placement_modulus=None))
        unfinished = _unfinished_run(out, request)
        if unfinished is not None:
            plans = [restored_plan(p, unfinished.started_at) for p in unfinished.plan or []]
            run_id, started_at = unfinished.run_id, unfinished.started_at
        else:
            plans = resolve_plan(conn, metadata, selectors, start_spec, end_spec)
            run_id = new_run_id()
        covered = covered_intervals(out) if out.exists() else {}
        tasks = []  # the part of each partition's range no committed file holds yet, computed once
        for plan in plans:
            if unfinished is None:
                plan.read = subtract([[plan.start, plan.end]], covered.get((plan.topic, plan.partition), []))
            tasks.append(ReadTask(plan.topic, plan.partition, subtract(plan.read, covered.get((plan.topic, plan.partition), []))))
        if on_plan is not None:
            on_plan(plans, unfinished is not None)
        manifest = Manifest(
            run_id=run_id, status="running", cluster_id=cluster_id, request=request,
            tool={"evkit": __version__, "confluent_kafka": confluent_kafka.__version__,
                  "librdkafka": confluent_kafka.libversion()[0], **(_spark_tool() if engine == "spark" else {})},
            client_config=redact_settings(settings), isolation=isolation, started_at=started_at,
            plan=[asdict(p) for p in plans],
        )
        if dry_run:
            manifest.status = "dry_run"
            return manifest
        to_read = sum(p.max_records for p in plans)
        empty = all(p.start == p.end for p in plans)
        if unfinished is None and (to_read == 0 and not empty or empty and _recorded(out, plans)):
            manifest.status = "nothing_to_do"
            return manifest
        topic_names = sorted({p.topic for p in plans})
        configs = conn.topic_configs(topic_names)
        manifest.topics = {
            t: {"partition_count": len(metadata.topics[t].partitions), "configs": configs.get(t)} for t in topic_names
        }
        if masker is not None:
            masker.placement_modulus = placement_modulus([t["partition_count"] for t in manifest.topics.values()])
            manifest.masking = {**masker.record(placement_modulus=masker.placement_modulus), "source": "evkit dump"}
        out.mkdir(parents=True, exist_ok=True)
        write_identity(out, cluster_id)
        remove_temporaries(out)
        write_manifest(out, manifest)
        options = ReadOptions(run_id=run_id, file_size=file_size, batch_size=batch_size, max_rate=max_rate,
                              timeout=timeout, mask=masker and masker.to_options(), reader=reader)
        if workers is None:
            workers = default_workers(reader, to_read)
        committed: list[CommittedFile] = []
        schemas = SchemaCollector(out, registry, unfinished and unfinished.schemas, tolerant=True)

        def on_commit(item: CommittedFile) -> None:
            committed.append(item)
            schemas.add(item.topic, item.schema_ids)

        try:
            if any(t.read for t in tasks) and engine == "spark":
                from .spark import read_with_spark

                read_with_spark(settings, isolation, out, tasks, options, master=spark_master, conf=spark_conf,
                                progress=Progress(quiet=quiet), on_commit=on_commit)
            elif any(t.read for t in tasks):
                read(conn, out, tasks, options, workers=workers, progress=Progress(quiet=quiet),
                     on_commit=on_commit)
        except BaseException as exc:
            manifest.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            try:
                _finish_manifest(out, manifest, plans, committed, conn, schemas, complete=False)
            except OSError:
                pass  # e.g. the disk is still full: the last "running" checkpoint stays and resumes the same
            raise
        manifest.status = "complete"
        _finish_manifest(out, manifest, plans, committed, conn, schemas, complete=True)
        return manifest
    except OSError as exc:  # disk full, read-only or no permission: something the user has to fix
        raise write_failure(out, exc) from None
    finally:
        conn.close()


def summary_line(manifest: Manifest, out: str | Path) -> str | None:
    """The line that says what a dump did (`dumped N records (X MB) to DIR`, ...); None for a dry run."""
    plans = manifest.plan or []
    ranges = ", ".join(f"{p['topic']}/{p['partition']} [{p['start']}, {p['end']})" for p in plans)
    empty = all(p["start"] == p["end"] for p in plans)
    if manifest.status == "dry_run":
        return None
    if manifest.status == "nothing_to_do":
        return (f"the range holds no records: {ranges}; {out} already records it" if empty
                else f"nothing to read: {out} already holds every planned offset")
    if empty:
        return f"the range holds no records: {ranges}; recorded in {out}"
    schemas = schemas_summary(manifest.schemas)
    return f"dumped {manifest.records:,} records ({manifest.bytes / 1e6:,.1f} MB) to {out}" + (f"; {schemas}" if schemas else "")


def _positions(value, default: str) -> list[str]:
    """A --start/--end value as the list of strings the manifest records, the same from CLI and API."""
    if value is None or isinstance(value, (list, tuple)) and not value:
        return [default]
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _spark_tool() -> dict:
    """The manifest's `tool` fields of a Spark dump: the engine, Spark's version, what it cannot give."""
    from .spark import NOTES, spark_version

    return {"engine": "spark", "spark": spark_version(), "notes": NOTES}


def _check_dataset_identity(out: Path, cluster_id: str) -> None:
    if not out.exists() or not any(out.iterdir()):
        return
    identity = read_identity(out)
    if identity is None:
        raise DatasetError(f"--out {out} is not empty and is not an evkit dataset; choose an empty or new directory")
    if identity.get("cluster_id") != cluster_id:
        raise DatasetError(
            f"--out {out} holds a dump of cluster {identity.get('cluster_id')}, not of this cluster ({cluster_id}); "
            "choose another directory"
        )


def _unfinished_run(out: Path, request: dict) -> Manifest | None:
    """The run to resume: an unfinished run with the same request. Another unfinished run is an error."""
    if not out.exists():
        return None
    for manifest in read_manifests(out):
        if manifest.status == "complete":
            continue
        if manifest.request == request:
            return manifest
        raise DatasetError(
            f"--out {out} has an unfinished dump (run {manifest.run_id}, topics "
            f"{', '.join(manifest.request.get('topics', []))}): re-run that dump to finish it first"
        )
    return None


def _recorded(out: Path, plans: list[PartitionPlan]) -> bool:
    """True if the dataset's runs already recorded each plan's range (an empty range is in no file)."""
    recorded = [(p.topic, p.partition, p.start, p.end)
                for m in (read_manifests(out) if out.exists() else []) for p in m.partitions]
    return all(any((t, n) == (p.topic, p.partition) and s <= p.start and p.end <= e for t, n, s, e in recorded)
               for p in plans)


def _finish_manifest(out: Path, manifest: Manifest, plans: list[PartitionPlan], committed: list[CommittedFile],
                     conn: Connection, schemas: SchemaCollector, *, complete: bool) -> None:
    """Fill in per-partition results from the files this run committed, and the schemas met, and
    write the manifest."""
    by_partition: dict[tuple[str, int], list[CommittedFile]] = {}
    for item in committed:
        by_partition.setdefault((item.topic, item.partition), []).append(item)
    partitions = []
    for plan in plans:
        files = by_partition.get((plan.topic, plan.partition), [])
        earlier = _earlier_attempts(out, manifest.run_id, plan, {item.entry.path for item in files})
        for item in earlier:
            schemas.add(item.topic, item.schema_ids)
        files += earlier
        watermarks_end = None
        if complete:  # a failed run must not wait a timeout per partition for a broker that may be gone
            try:
                low_end, high_end = conn.watermarks(plan.topic, plan.partition)
                watermarks_end = {"low": low_end, "high": high_end}
            except EvkitError:
                pass
        entry = PartitionEntry(plan.topic, plan.partition, request=plan.request,
                               watermarks_start={"low": plan.low, "high": plan.high}, watermarks_end=watermarks_end,
                               start=plan.start, end=plan.end, end_fixed_at=plan.end_fixed_at, read=plan.read)
        entry.add_files(files)
        entry.complete = not subtract(plan.read, [[f.start, f.end] for f in entry.files])
        partitions.append(entry)
    manifest.partitions = partitions
    manifest.schemas = schemas.section()
    manifest.finished_at = utc_now()
    if complete and any(not p.complete for p in partitions):
        manifest.status = "failed"
    write_manifest(out, manifest)


def _earlier_attempts(out: Path, run_id: str, plan: PartitionPlan, known: set[str]) -> list[CommittedFile]:
    """Files an interrupted attempt of this run committed inside the plan's range: read back, once."""
    found = []
    directory = partition_dir(out, plan.topic, plan.partition)
    for path in sorted(directory.glob("*.parquet")) if directory.is_dir() else ():
        span = parse_file_name(path.name)
        if (span is None or path.relative_to(out).as_posix() in known
                or not any(s <= span[0] and span[1] <= e for s, e in plan.read)):
            continue
        if file_metadata(path).get("run_id") == run_id:
            item = read_committed(out, path)
            item.schema_ids = file_schema_ids(path)
            found.append(item)
    return found
