"""Open one or more dump datasets as DuckDB views: records, events, manifests, and the checks over them.

`evkit.open(*paths)` verifies each dataset (manifests, file list, sizes, rows, sha256), then gives a
`Analysis` that owns its own DuckDB connection. Nothing is loaded into memory: every view reads the
Parquet files when a query runs, and DuckDB spills to a private temporary directory past its limit.
"""
from __future__ import annotations

import html
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path

import duckdb
import pyarrow as pa

from .._progress import bar, shown
from .._text import SEVERITY_RANK
from ..errors import UsageError
from ..partitioning import checks as hashchecks
from ..store.manifest import describe_masking, masking_of
from ..store.fs import ObjectPath, duckdb_paths, register_objects
from ..store.records import RECORD_SCHEMA
from . import registry, rules
from .causes import group as group_causes
from .decoders import step as decode_step
from .findings import GAP_NOUNS, CheckReport, finding_to_json
from .fields import FIELDS, TYPED, FieldConfig, event_fields_sql, parse_field_options, resolve_fields, sql_string
from .tables import manifest_rows, overlapping, topic_rows
from .verify import LoadedDataset, load_dataset, topic_names

IDENTITY_FIELDS = ("event_id", "entity", "event_type")  # fields whose typed value is the raw text


class Analysis:
    """One or more verified dump datasets behind a private DuckDB connection.

    Views: `records` (one row per Kafka record, each seen once, with `cluster_id`), `events` (records
    plus event_id, entity, event_time, sequence, event_type, trace_id), `manifests` (one row per run
    and partition), `topics` (configs recorded at dump time), `field_coverage`. Check methods return
    lazy DuckDB relations; `findings()` is the union of every check's findings.
    """

    def __init__(self, datasets: list[LoadedDataset], fields: FieldConfig, *, memory_limit: str | None = None,
                 threads: int | None = None, quiet: bool = False):
        self.datasets = datasets
        self.fields = fields
        self.quiet = quiet
        self._temp_dir = tempfile.mkdtemp(prefix="evkit-duckdb-")
        self._remove_temp_dir = weakref.finalize(self, shutil.rmtree, self._temp_dir, True)  # also if never closed
        config = {"temp_directory": self._temp_dir, "preserve_insertion_order": False}  # queries order explicitly
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        self.connection = duckdb.connect(":memory:", config=config)
        self.connection.execute(f"SET TimeZone = 'UTC'; SET enable_progress_bar = {str(shown(quiet)).lower()}")
        self._loaded: set[str] = set()
        self.materialized = False
        self._coverage: list[tuple] | None = None
        self.last_check: CheckReport | None = None  # what `check()` found last: its headline is in the repr
        self._create_base_views()
        self._set_check_params()
        self._register_masking()

    # --- setup -------------------------------------------------------------------------------
    def _create_base_views(self) -> None:
        con = self.connection
        manifests = manifest_rows(self.datasets)
        con.register("manifests_arrow", manifests)
        con.execute("CREATE TABLE manifests AS SELECT * FROM manifests_arrow")
        con.unregister("manifests_arrow")
        con.register("topics_arrow", topic_rows(self.datasets, self.fields))
        con.execute("CREATE TABLE topics AS SELECT * FROM topics_arrow")
        con.unregister("topics_arrow")
        con.execute(f"CREATE VIEW records AS {self._records_sql(manifests)}")
        self.use("wire")  # the Schema Registry framing of keys and values, derived in SQL (sql/wire.sql)
        # a record's producer: the last value of its producer header (the partitioner check's parameter), as text
        con.execute("CREATE MACRO producer_of(headers) AS try(decode(struct_extract(list_filter(headers, "
                    "lambda h: h.key = getvariable('partitioner_producer_header'))[-1], 'value')))")
        topic_names = sorted({row[0] for row in con.execute("SELECT DISTINCT topic FROM manifests").fetchall()})
        decoded_dir = Path(self._temp_dir) / "decoded"
        decoded_dir.mkdir()
        self.decoded = decode_step.decode(con, self.datasets, self.fields.decoders, decoded_dir, quiet=self.quiet)
        self._create_event_views(topic_names)

    def _records_sql(self, manifests: pa.Table) -> str:
        columns = ", ".join(f'"{name}"' for name in RECORD_SCHEMA.names)
        parts = []
        for ds in self.datasets:
            if ds.files and isinstance(ds.root, ObjectPath):  # DuckDB has no S3 here: it reads through pyarrow's
                rows = sum(f.rows for m in ds.manifests for p in m.partitions for f in p.files)
                parts.append(f"SELECT {sql_string(ds.cluster_id)} AS cluster_id, {columns} "
                             f"FROM {register_objects(self.connection, ds.files, Path(self._temp_dir), rows=rows)}")
            elif ds.files:
                files = ", ".join(sql_string(str(p)) for p in ds.files)
                parts.append(f"SELECT {sql_string(ds.cluster_id)} AS cluster_id, {columns} "
                             f"FROM read_parquet([{files}], hive_partitioning = false)")  # columns come from the file
        if not parts:
            self.connection.register("empty_records", RECORD_SCHEMA.empty_table())
            return f"SELECT NULL::VARCHAR AS cluster_id, {columns} FROM empty_records"
        union = " UNION ALL ".join(parts)
        if len(parts) > 1 and overlapping(manifests):
            return f'SELECT DISTINCT ON (cluster_id, topic, partition, "offset") * FROM ({union})'
        return union

    def _create_event_views(self, topic_names: list[str]) -> None:
        by_mapping: dict[tuple, list[str]] = {}  # topics with the same sources, decoders, decode step share one SELECT
        for topic in topic_names:
            decoded = ((topic, "key") in self.decoded.sides, (topic, "value") in self.decoded.sides)
            by_mapping.setdefault((tuple(sorted(self.fields.sources(topic).items())), self.fields.decoders(topic), decoded),
                                  []).append(topic)
        selects = [event_fields_sql(dict(mapping), *decoders, f"topic IN ({', '.join(sql_string(t) for t in topics)})",
                                    decoded) for (mapping, decoders, decoded), topics in by_mapping.items()]
        if not selects:
            selects = [event_fields_sql(self.fields.defaults, *self.fields.decoders(""), "false")]
        typed = ", ".join(f"{TYPED[name]} AS {name}" for name in FIELDS)
        con = self.connection
        con.execute("CREATE TABLE streams AS SELECT cluster_id, topic, (row_number() OVER (ORDER BY cluster_id, topic))::INTEGER "
                    "AS stream FROM (SELECT DISTINCT cluster_id, topic FROM manifests)")
        con.execute(f"CREATE VIEW event_fields_source AS SELECT *, {typed}{rules.source_columns_sql(self.fields.rules)} "
                    f"FROM ({' UNION ALL '.join(selects)}) JOIN streams USING (cluster_id, topic)")
        self._create_events_over("event_fields_source")
        rows = [(topic, name, source, self.fields.is_explicit(topic, name))
                for topic in topic_names for name, source in self.fields.sources(topic).items()]
        con.execute("CREATE TABLE field_sources (topic VARCHAR, field VARCHAR, source VARCHAR, explicit BOOLEAN)")
        if rows:
            con.executemany("INSERT INTO field_sources VALUES (?, ?, ?, ?)", rows)
        rules.create_rule_tables(con, self.fields.rules)
        con.execute("CREATE VIEW custom_rule_findings AS " + rules.custom_rule_findings_sql(con, self.fields.rules))

    def _create_events_over(self, source: str) -> None:
        raw = ", ".join(f"raw_{name}" for name in FIELDS)
        self.connection.execute(f"CREATE OR REPLACE VIEW event_fields AS SELECT * FROM {source}")
        self.connection.execute("CREATE OR REPLACE VIEW events AS SELECT * EXCLUDE (key_undecodable, value_undecodable, "
                                f"{raw}) FROM event_fields")

    def materialize(self) -> None:
        """Extract the event fields once into a DuckDB table, so that several checks do not each parse
        every JSON value again. The table spills to disk past the memory limit. Afterwards `events`
        has no `value` and `headers` columns (they stay in `records`), and the `raw_*` columns of
        `event_fields` only tell whether a raw value was found (true or null): all coverage counts."""
        if self.materialized:
            return
        raws = ", ".join(f"raw_{name}" for name in FIELDS)
        found = ", ".join(f"raw_{name} IS NOT NULL OR NULL AS raw_{name}" for name in FIELDS if name not in IDENTITY_FIELDS)
        self.connection.execute(f"CREATE TABLE event_fields_table AS SELECT * EXCLUDE (value, headers, {raws}), {found} "
                                "FROM event_fields_source")
        aliases = ", ".join(f"{name} AS raw_{name}" for name in IDENTITY_FIELDS)  # raw text = typed value
        self._create_events_over(f"(SELECT *, {aliases} FROM event_fields_table)")
        self.materialized = True
        for name in sorted(self._loaded):  # re-bind views that were created over the old columns
            self._loaded.discard(name)
            self.use(name)

    def _set_check_params(self) -> None:
        """Every check parameter as the DuckDB variable `<check>_<param>`: its default, or the config's value."""
        for check in registry.CHECKS.values():
            for param, value in check.settings(self.fields.check_params.get(check.name, {})).items():
                literal = sql_string(value) if isinstance(value, str) else repr(value)
                self.connection.execute(f"SET VARIABLE {check.name}_{param} = {literal}")

    def _register_masking(self) -> None:
        """Note which datasets are masked (docs/sharing.md) and give the partition-hash checks the
        raw keys' placement hashes their files carry."""
        self.masking = {str(ds.root): masking_of(ds.manifests) for ds in self.datasets}
        placed = [path for ds in self.datasets if (self.masking[str(ds.root)] or {}).get("placement") and ds.files
                  for path in (duckdb_paths(self.connection, ds.files) if isinstance(ds.root, ObjectPath)
                               else map(str, ds.files))]
        if placed:
            hashchecks.register_masked_placements(self.connection, placed)

    def use(self, name: str) -> None:
        """Load `evkit/analysis/sql/<name>.sql` once, after the checks it reads and its preparation hook."""
        if name in self._loaded:
            return
        check = registry.CHECKS.get(name)
        if check is not None:
            for needed in check.after:
                self.use(needed)
            if check.prepare is not None:
                check.prepare(self.connection)
        self.connection.execute(resources.files(__package__).joinpath(f"sql/{name}.sql").read_text())
        self._loaded.add(name)

    # --- views -------------------------------------------------------------------------------
    @property
    def records(self) -> duckdb.DuckDBPyRelation:
        return self.connection.view("records")

    @property
    def events(self) -> duckdb.DuckDBPyRelation:
        return self.connection.view("events")

    @property
    def manifests(self) -> duckdb.DuckDBPyRelation:
        return self.connection.table("manifests")

    @property
    def topics(self) -> duckdb.DuckDBPyRelation:
        return self.connection.table("topics")

    @property
    def field_coverage(self) -> duckdb.DuckDBPyRelation:
        """Per topic and field: records, present, missing, of those undecodable, and unparseable values."""
        self.use("field_coverage")
        return self.connection.sql("SELECT * FROM field_coverage ORDER BY topic, field")

    def values(self, topic: str, *, key: bool = False) -> duckdb.DuckDBPyRelation:
        """The decoded values (`key=True`: keys) of one topic, one typed column per top-level field,
        beside partition, offset and schema_id (null for plain JSON), in offset order per partition.

        Avro and Protobuf values have their schema's types (logical types included: timestamps,
        decimals, dates); JSON and JSON Schema values the types DuckDB infers from the JSON. Values
        that do not decode are not here: `decode_failures` and `field_coverage` count them."""
        if topic not in self.topic_names:
            raise UsageError(f"values: no topic {topic!r} in the dataset(s); topics are {', '.join(self.topic_names)}")
        side = "key" if key else "value"
        selects = []
        for part in self.decoded.typed(topic, side):
            if part.json_text:
                continue
            kind = self.connection.sql(f"SELECT value FROM {part.name} LIMIT 0").types[0]
            columns = "unnest(value)" if kind.id == "struct" else "value"
            selects.append(f'SELECT partition, "offset", {part.schema_id}::BIGINT AS schema_id, {columns} FROM {part.name}')
        view = "decoded_keys" if key else "decoded_values"
        typed = {part.schema_id for part in self.decoded.typed(topic, side) if not part.json_text}
        json_text = (f"SELECT partition, \"offset\", schema_id, decoded AS j FROM {view} WHERE topic = {sql_string(topic)} "
                     f"AND failure IS NULL AND schema_id NOT IN ({', '.join(map(str, typed)) or '-1'}) UNION ALL "
                     f"SELECT partition, \"offset\", NULL::BIGINT, try(decode({side})) FROM records r "
                     f"WHERE topic = {sql_string(topic)} AND json_valid(try(decode({side}))) "
                     f"AND NOT EXISTS (SELECT 1 FROM {view} d WHERE d.topic = r.topic AND d.partition = r.partition "
                     f'AND d."offset" = r."offset")')
        (structure,), = self.connection.execute(f"SELECT json_group_structure(j::JSON) FROM ({json_text})").fetchall()
        if structure is not None:
            columns = f"unnest(json_transform(j, {sql_string(structure)}))" if structure.startswith("{") else \
                f"json_transform(j, {sql_string(structure)}) AS value"
            selects.append(f"SELECT partition, \"offset\", schema_id, {columns} FROM ({json_text})")
        if not selects:
            return self.connection.sql('SELECT NULL::INTEGER AS partition, NULL::BIGINT AS "offset", '
                                       "NULL::BIGINT AS schema_id WHERE false")
        return self.connection.sql(f"SELECT * FROM ({' UNION ALL BY NAME '.join(selects)}) ORDER BY partition, \"offset\"")

    def sql(self, query: str) -> duckdb.DuckDBPyRelation:
        """Run any SQL on this dataset's connection (views: records, events, manifests, topics, ...)."""
        return self.connection.sql(query)

    def _view(self, sql_file: str, query: str) -> duckdb.DuckDBPyRelation:
        self.use(sql_file)
        return self.connection.sql(query)

    # --- checks ------------------------------------------------------------------------------
    def timeline(self, *, entity: str | None = None, trace_id: str | None = None,
                 topics: Iterable[str] | None = None) -> duckdb.DuckDBPyRelation:
        """Events of every topic and partition merged in event-time order, broker time and offset beside.

        `entity=` gives one entity's history, `trace_id=` one message's path through several topics
        (its lifecycle). `lag` is broker time minus event time. Order between equal event times is by
        topic, partition, offset: Kafka guarantees no order across partitions, and neither does this.
        """
        conditions = ["true"]
        if entity is not None:
            conditions.append(f"entity = {sql_string(entity)}")
        if trace_id is not None:
            conditions.append(f"trace_id = {sql_string(trace_id)}")
        if topics is not None:
            conditions.append(f"topic IN ({', '.join(sql_string(t) for t in topics) or 'NULL'})")
        return self._view("timeline", f"SELECT * FROM timeline WHERE {' AND '.join(conditions)} "
                                      'ORDER BY time, topic, partition, "offset"')

    def event_lag(self) -> duckdb.DuckDBPyRelation:
        """Per topic and partition: broker time minus event time (min, median, p99, max) in ms."""
        return self._view("timeline", "SELECT * FROM event_lag ORDER BY topic, partition")

    def duplicates(self) -> duckdb.DuckDBPyRelation:
        """Events stored more than once: `exact` (same key and value bytes, event_id unknown) and
        `logical` (same event_id) per topic, with every copy's position and the time between copies.

        It cannot tell a producer retry from an application that legitimately sends identical bytes
        twice, and it does not look across topics (one id in two topics is a lifecycle, not a copy).
        """
        return self._view("duplicate", "SELECT * FROM duplicates ORDER BY topic, first_ts, identity")

    def republications(self) -> duckdb.DuckDBPyRelation:
        """Bursts of duplicate copies in one partition within a window: a producer re-sent a range."""
        return self._view("duplicate", "SELECT * FROM republications ORDER BY topic, partition, first_offset")

    def offset_gaps(self) -> duckdb.DuckDBPyRelation:
        """Offsets Kafka did not deliver, classified (compaction, transaction_marker, transaction_aborted,
        retention, not_dumped, unexplained). Consumers never see control records or producer ids, so
        transaction markers are inferred from the gap pattern (see docs/analysis.md)."""
        return self._view("offset_gap", "SELECT * FROM offset_gaps ORDER BY cluster_id, topic, partition, gap_start")

    def sequence_gaps(self) -> duckdb.DuckDBPyRelation:
        """Missing sequence numbers per topic and entity: `lost` (a later event of the entity was seen
        well before the end of the dump) or `unseen` (may still arrive). It cannot know about events
        after the last one seen, nor before the first."""
        return self._view("sequence_gap", "SELECT * FROM sequence_gaps ORDER BY topic, entity, missing_from")

    def sequence_regressions(self) -> duckdb.DuckDBPyRelation:
        """Places where an entity's sequence goes backwards in offset order within a partition."""
        return self._view("sequence_gap", 'SELECT * FROM sequence_regressions ORDER BY topic, partition, "offset"')

    def silences(self) -> duckdb.DuckDBPyRelation:
        """Quiet periods far longer than the partition's or entity's own mean interval."""
        return self._view("silence", "SELECT * FROM silences ORDER BY scope, topic, partition, entity, silence_start")

    def out_of_order(self) -> duckdb.DuckDBPyRelation:
        """Events whose event time is earlier than an event before them (by offset) in their entity or
        partition, with the lateness; order across partitions is never guaranteed, so none is judged."""
        return self._view("out_of_order", 'SELECT * FROM late_events ORDER BY topic, partition, "offset"')

    def split_entities(self) -> duckdb.DuckDBPyRelation:
        """Entities whose events of one topic are spread over several partitions."""
        return self._view("out_of_order", "SELECT * FROM split_entities ORDER BY topic, entity")

    # --- rules (docs/rules.md) ---------------------------------------------------------------
    def rates(self) -> duckdb.DuckDBPyRelation:
        """Per [rates.*] rule and group with a window over its limit: the worst window (`worst`: its
        start `t`, event count, first and last event), the windows exceeded and the bursts."""
        return self._view("rate", "SELECT * FROM rates ORDER BY rule, cluster_id, topic, group_label")

    def rate_windows(self) -> duckdb.DuckDBPyRelation:
        """For the groups that exceeded a [rates.*] rule: every event's window [t, t + window) and its
        count (`events`), beside the rule's limit (`max_events`): what `plots.rate_windows` draws."""
        return self._view("rate", "SELECT w.rule, w.cluster_id, w.topic, w.group_label, w.t, w.events, w.max_events, "
                                  "w.window_text, w.partition, w.\"offset\" FROM rate_windows w "
                                  "SEMI JOIN rates x ON x.rule = w.rule AND x.cluster_id = w.cluster_id "
                                  "AND x.grp = w.grp ORDER BY w.rule, w.group_label, w.t")

    def sizes(self) -> duckdb.DuckDBPyRelation:
        """Documents (per key) that keep growing by [checks.size] growth_factor: versions, first, last
        and largest version, growth and slope."""
        return self._view("size", "SELECT * FROM sizes ORDER BY growth DESC, topic")

    def size_versions(self, *, growing: bool = True) -> duckdb.DuckDBPyRelation:
        """Every version (value size over time) of the growing documents (`growing=False`: of every key)."""
        semi = "SEMI JOIN sizes g ON g.cluster_id = v.cluster_id AND g.topic = v.topic AND g.key = v.key" if growing else ""
        return self._view("size", "SELECT v.*, coalesce(v.key_text, 'base64:' || to_base64(v.key)) AS key_label "
                                  f"FROM size_versions v {semi} ORDER BY v.topic, v.key, v.t")

    def flows(self) -> duckdb.DuckDBPyRelation:
        """Per [flows.*] rule: every cause that is missing, pending, late or repeated and every orphan
        effect, with its effects."""
        return self._view("flow", "SELECT * FROM flows ORDER BY rule, kind, t, topic, partition, \"offset\"")

    def flow_funnel(self) -> duckdb.DuckDBPyRelation:
        """Per [flows.*] rule: causes, with an effect in time, late, missing, pending, repeated; orphans."""
        return self._view("flow", "SELECT * FROM flow_funnel ORDER BY rule")

    @property
    def topic_names(self) -> list[str]:
        """The topics the datasets' manifests cover, sorted."""
        return topic_names(self.datasets)

    def check(self, checks: Iterable[str] | str | None = None, *, fail_on: str = "warning") -> CheckReport:
        """Run the selected checks (default all) and return a CheckReport.

        `exit_code` is 1 if any finding is at or above `fail_on` (info, warning, error), else 0. A check
        that needs a field no topic maps (sequence_gap: `sequence`) is skipped, and the report says so.
        The event fields are extracted once first (`materialize()`)."""
        if fail_on not in SEVERITY_RANK:
            raise UsageError(f"fail_on {fail_on!r}: expected one of {', '.join(SEVERITY_RANK)}")
        selected = registry.select(checks)
        topics = self.topic_names
        skipped: dict[str, dict] = {}
        runnable = {}
        for owner, names in selected.items():
            unmapped = registry.skipped_topics(owner, topics, self.fields)
            partial = len(unmapped) < len(topics)
            skipped |= {name: {"topics": unmapped, "reason": registry.skip_reason(owner, partial=partial)}
                        for name in owner.emits if name in names and unmapped}
            if partial or not unmapped:
                runnable[owner] = names
        self.materialize()
        findings = []
        for names in bar(iterable=runnable.values(), desc="checks", unit="check", quiet=self.quiet):
            relation = self.findings(sorted(names), facts=True)
            columns = relation.columns
            findings += [finding_to_json(dict(zip(columns, row))) for row in relation.fetchall()]
        coverage = self.coverage_rows()
        (records,), = self.records.count("*").fetchall()
        gaps = None
        if any(owner.name == "offset_gap" for owner in runnable):
            found = dict(self.offset_gaps().aggregate("classification, count(*)", "classification").fetchall())
            gaps = {kind: found.get(kind, 0) for kind in GAP_NOUNS}
        findings.sort(key=lambda f: -SEVERITY_RANK[f["severity"]])
        findings, found_causes = group_causes(findings)
        run = sorted(name for names in runnable.values() for name in names)
        masked = [{"dataset": root, "key_fingerprint": masking["key_fingerprint"]}
                  for root, masking in self.masking.items() if masking is not None]
        self.last_check = CheckReport(findings, coverage, fail_on, records, run, skipped, gaps, found_causes, masked)
        return self.last_check

    def diff(self, other: str | Path, *, identity: str = "content", topic_map: Mapping[str, str] | Iterable[str] | None = None,
             where: str | None = None, where_a: str | None = None, where_b: str | None = None,
             ignore_headers: Iterable[str] = ("evkit-replay",), timestamps: bool = True, limit: int = 1000):
        """Compare these records (A) with the dataset `other` (B) record by record (docs/sharing.md):
        a DiffReport with counts per topic and the differences (only in A or B, changed, moved)."""
        from ..share.diff import compare

        return compare(self, other, identity=identity, topic_map=topic_map, where=where, where_a=where_a,
                       where_b=where_b, ignore_headers=ignore_headers, timestamps=timestamps, limit=limit)

    def causes(self, checks: Iterable[str] | str | None = None) -> list[dict]:
        """The findings of the selected checks (default all) grouped into causes, worst first
        (docs/causes.md); `check()` gives them too, as `.causes`, with each finding's `cause` id."""
        return self.check(checks).causes

    def findings(self, checks: Iterable[str] | None = None, *, facts: bool = False) -> duckdb.DuckDBPyRelation:
        """Every finding of the selected checks (default all), worst first, in the findings contract;
        `facts=True` adds the column `facts` (JSON, null for a check without facts: docs/causes.md)."""
        parts = []
        for check, names in registry.select(checks).items():
            self.use(check.name)
            wanted = ", ".join(sql_string(n) for n in sorted(names))
            extra = ""
            if facts:
                has = any(row[0] == "facts" for row in self.connection.execute(f"DESCRIBE {check.name}_findings").fetchall())
                extra = ", facts::JSON AS facts" if has else ", NULL::JSON AS facts"
            parts.append(f'SELECT {registry.FINDING_COLUMNS}{extra} FROM {check.name}_findings WHERE "check" IN ({wanted})')
        return self.connection.sql(
            f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
            "ORDER BY CASE severity WHEN 'error' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, "
            '"check", topic, partition, first_ts, offsets, detail')

    # --- display -----------------------------------------------------------------------------
    def coverage_rows(self) -> list[tuple]:
        """field_coverage as tuples, computed once (it reads every record)."""
        if self._coverage is None:
            self._coverage = self.field_coverage.fetchall()
        return self._coverage

    def summary(self) -> list[tuple]:
        """(cluster_id, topic, partitions, records, runs) per topic, from the manifests."""
        return self.connection.execute(
            "SELECT cluster_id, topic, count(DISTINCT partition), sum(records), count(DISTINCT run_id) "
            "FROM manifests GROUP BY ALL ORDER BY ALL").fetchall()

    def headline(self) -> str:
        """One line: the datasets, topics, partitions and records (from the manifests), and what the
        last `check()` found."""
        (topics, partitions, records), = self.connection.execute(
            "SELECT count(DISTINCT (cluster_id, topic)), count(DISTINCT (cluster_id, topic, partition)), "
            "coalesce(sum(records), 0) FROM manifests").fetchall()
        roots = ", ".join(f"{ds.root} (cluster {ds.cluster_id}{describe_masking(self.masking[str(ds.root)])})"
                          for ds in self.datasets)
        line = f"{roots}: {topics} topic{'s' if topics != 1 else ''}, {partitions} partitions, {records:,} records"
        if self.last_check is not None:
            line += "; checked: " + self.last_check.headline().split(" records, ", 1)[1]
        return line

    def __repr__(self) -> str:
        return f"<evkit.Analysis: {self.headline()}>"

    def _repr_html_(self) -> str:
        from .causes import to_html

        causes = to_html(self.last_check.causes) if self.last_check is not None else ""
        return f"<p><b>evkit.Analysis</b>: {html.escape(self.headline().split('; worst:')[0])}</p>{causes}"

    def close(self) -> None:
        self.connection.close()
        self._remove_temp_dir()

    def __enter__(self) -> Analysis:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open(*paths: str | Path, fields: Mapping[str, str] | Iterable[str] | None = None,  # noqa: A001 - evkit.open
         config: str | Path | Mapping | None = None, allow_incomplete: bool = False, verify: bool | str = True,
         memory_limit: str | None = None, threads: int | None = None, quiet: bool = False,
         rates: Iterable[str] | Mapping[str, Mapping] | None = None, flows: Iterable[str] | Mapping[str, Mapping] | None = None,
         max_bytes: int | None = None, growth_factor: float | None = None) -> Analysis:
    """Open dump datasets for analysis; several paths are analysed together, each record seen once.

    Every file must be listed by a complete run manifest with matching size, rows and (unless
    `verify=False`) sha256; on object storage (`s3://bucket/prefix`) sizes only, unless
    `verify="full"` (sha256 and rows read every object). `allow_incomplete=True` accepts interrupted
    runs and ignores their unlisted files. `fields`/`config` say where event fields are (see docs/analysis.md).
    `rates`, `flows`, `max_bytes` and `growth_factor` add rules to the config's (docs/rules.md, "As options").
    """
    if not paths:
        raise UsageError("open: give at least one dataset directory")
    field_config = resolve_fields(fields, config, check_names=registry.CHECKS)
    field_config.rules = rules.with_options(field_config.rules, rates=rates, flows=flows)
    field_config.check_params["size"] = {**field_config.check_params.get("size", {}),
                                         **rules.size_options(max_bytes=max_bytes, growth_factor=growth_factor)}
    datasets = [load_dataset(path, allow_incomplete=allow_incomplete, verify=verify, quiet=quiet) for path in paths]
    topics = topic_names(datasets)
    for topic, name, _ in parse_field_options(fields):  # a shared config file may name other dumps' topics
        if topic is not None and topic not in topics:
            raise UsageError(f"field {topic}:{name}: no topic {topic!r} in the dataset(s); topics are "
                             f"{', '.join(topics) or 'none'}")
    return Analysis(datasets, field_config, memory_limit=memory_limit, threads=threads, quiet=quiet)


def check(*paths: str | Path, checks: Iterable[str] | str | None = None,
          fields: Mapping[str, str] | Iterable[str] | None = None, config: str | Path | Mapping | None = None,
          fail_on: str = "warning", memory_limit: str | None = None, quiet: bool = False,
          rates: Iterable[str] | Mapping[str, Mapping] | None = None, flows: Iterable[str] | Mapping[str, Mapping] | None = None,
          max_bytes: int | None = None, growth_factor: float | None = None) -> CheckReport:
    """Open the datasets, run the selected checks (default all) and return a CheckReport: `open()`
    then `.check()`, as `evkit check` does (`rates`, `flows`, `max_bytes`, `growth_factor`: rules
    besides the config's, docs/rules.md)."""
    with open(*paths, fields=fields, config=config, memory_limit=memory_limit, quiet=quiet, rates=rates, flows=flows,
              max_bytes=max_bytes, growth_factor=growth_factor) as analysis:
        return analysis.check(checks, fail_on=fail_on)
