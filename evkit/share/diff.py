"""`evkit diff A B`: two datasets, or ranges of them, compared record by record in DuckDB SQL
(evkit/analysis/sql/diff.sql) on evkit's own connection: only in A, only in B, changed, moved;
counts per topic, JSON lines like findings, exit 0 when equal and 1 when not (a CI gate)."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from .._text import key_text
from ..errors import UsageError

IDENTITIES = ("content", "event_id", "position")
PROVENANCE_HEADER = "evkit-replay"
KINDS = ("only_in_a", "only_in_b", "changed", "moved")
MEMORY_LIMIT = "2GB"  # DuckDB's for a diff: past it the matching spills to disk, so memory stays flat


@dataclass
class DiffReport:
    """What `diff` found: per topic the records of each side and the differences by kind, and the
    differences themselves (JSON-ready dicts, at most `limit` of them; `truncated` says how many more)."""

    identity: str
    summary: list[dict]
    differences: list[dict]
    truncated: int = 0

    @property
    def equal(self) -> bool:
        return not any(t[k] for t in self.summary for k in KINDS)

    @property
    def exit_code(self) -> int:
        return 0 if self.equal else 1

    def counts(self) -> dict[str, int]:
        return {k: sum(t[k] for t in self.summary) for k in KINDS}

    def write_json(self, out: TextIO = sys.stdout) -> None:
        """One line per difference, then one summary line."""
        for row in self.differences:
            out.write(json.dumps(row) + "\n")
        out.write(json.dumps({"summary": {"identity": self.identity, "equal": self.equal, **self.counts(),
                                          "truncated": self.truncated, "topics": self.summary}}) + "\n")

    def to_text(self, *, limit: int = 20) -> str:
        counts = self.counts()
        lines = [("equal" if self.equal else "different") + f" (matched by {self.identity}): "
                 + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in counts.items())]
        lines += [f"  {t['topic']}: A {t['a_records']}, B {t['b_records']}, matched {t['matched']}, "
                  + ", ".join(f"{k.replace('_', ' ')} {t[k]}" for k in KINDS) for t in self.summary]
        lines += [f"  [{d['diff']}] {d['detail']}" for d in self.differences[:limit]]
        more = len(self.differences) - limit + self.truncated
        if more > 0:
            lines.append(f"  ... and {more} more (--format json lists up to --limit)")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<DiffReport: {'equal' if self.equal else 'different'}, {self.counts()}>"


def _difference(row: dict) -> dict:
    out = {"diff": row["kind"], "topic": row["topic"],
           "a": None if row["a_offset"] is None else {"partition": row["a_partition"], "offset": row["a_offset"]},
           "b": None if row["b_offset"] is None else {"partition": row["b_partition"], "offset": row["b_offset"]}}
    out["key"], encoding = key_text(row["key"])
    if encoding is not None:
        out["key_encoding"] = encoding
    out["event_id"] = row["event_id"]
    out["fields"] = list(row["fields"])
    out["detail"] = row["detail"]
    return out


def parse_topic_map(topic_map: Mapping[str, str] | Iterable[str] | None) -> dict[str, str]:
    """`{'bets': 'staging.bets'}` or `['bets=staging.bets']` as a dict (source topic -> other topic)."""
    if not topic_map:
        return {}
    if isinstance(topic_map, Mapping):
        return dict(topic_map)
    mapped = {}
    for item in topic_map:
        source, sep, target = item.partition("=")
        if not sep or not source or not target:
            raise UsageError(f"--topic-map {item!r}: expected TOPIC=OTHER_TOPIC")
        mapped[source] = target
    return mapped


def diff(
    a: str | Path,
    b: str | Path,
    *,
    identity: str = "content",
    topic_map: Mapping[str, str] | Iterable[str] | None = None,
    where: str | None = None,
    where_a: str | None = None,
    where_b: str | None = None,
    fields: Mapping[str, str] | Iterable[str] | None = None,
    config: str | Path | Mapping | None = None,
    ignore_headers: Iterable[str] = (PROVENANCE_HEADER,),
    timestamps: bool = True,
    limit: int = 1000,
    memory_limit: str | None = MEMORY_LIMIT,
    quiet: bool = False,
) -> DiffReport:
    """Compare dataset A with dataset B (both verified): `evkit.open(a)` then `.diff(b)`; DuckDB
    spills past `memory_limit` (None: DuckDB's default, 80% of RAM)."""
    from ..analysis.session import open as open_dataset

    with open_dataset(a, fields=fields, config=config, memory_limit=memory_limit, quiet=quiet) as analysis:
        return analysis.diff(b, identity=identity, topic_map=topic_map, where=where, where_a=where_a, where_b=where_b,
                             ignore_headers=ignore_headers, timestamps=timestamps, limit=limit)


def compare(analysis, other: str | Path, *, identity: str, topic_map, where: str | None, where_a: str | None,
            where_b: str | None, ignore_headers: Iterable[str], timestamps: bool, limit: int) -> DiffReport:
    """`Analysis.diff`: B's verified files as views on A's connection, then sql/diff.sql, which reads
    only the columns it compares and keeps hashes of the bytes, not the bytes (docs/sharing.md)."""
    from ..analysis.fields import sql_string

    if identity not in IDENTITIES:
        raise UsageError(f"--identity must be one of {', '.join(IDENTITIES)}, not {identity!r}")
    if limit < 0:
        raise UsageError("--limit must be 0 or more")
    mapped = parse_topic_map(topic_map)
    other_ds = _other_dataset(analysis, other)
    con = analysis.connection
    columns = 'topic, partition, "offset", timestamp, key, value, headers'
    files = ", ".join(sql_string(str(p)) for p in other_ds.files)
    con.execute(f"CREATE OR REPLACE VIEW diff_b_raw AS SELECT {sql_string(other_ds.cluster_id)} AS cluster_id, "
                f"{columns} FROM read_parquet([{files}], hive_partitioning = false)" if files else
                f"CREATE OR REPLACE VIEW diff_b_raw AS SELECT * FROM records WHERE false")
    back = {target: source for source, target in mapped.items()}
    rename = ("CASE topic " + " ".join(f"WHEN {sql_string(t)} THEN {sql_string(s)}" for t, s in back.items())
              + " ELSE topic END") if back else "topic"
    ignored = ", ".join(sql_string(h) for h in ignore_headers)
    headers = f"list_filter(headers, lambda h: h.key NOT IN ({ignored}))" if ignored else "headers"

    ids = {"records": "(SELECT topic, partition, \"offset\", event_id FROM events)",
           "diff_b_raw": _other_event_ids(analysis, other_ds, back) if identity == "event_id" else None}

    def side(source: str, condition: str | None) -> str:
        topic = rename if source == "diff_b_raw" else "topic"
        if identity == "event_id":
            body = (f"SELECT r.*, i.event_id FROM {source} r LEFT JOIN {ids[source]} i "
                    'ON i.topic = r.topic AND i.partition = r.partition AND i."offset" = r."offset"')
        else:
            body = f"SELECT *, NULL::VARCHAR AS event_id FROM {source}"
        return (f"SELECT {topic} AS topic, partition, \"offset\", timestamp, key, value, {headers} AS headers, event_id "
                f"FROM ({body}) WHERE {condition or 'true'}")

    con.execute(f"SET VARIABLE diff_identity = {sql_string(identity)}; SET VARIABLE diff_timestamps = {str(timestamps).lower()}; "
                f"SET VARIABLE diff_limit = {int(limit)}; SET VARIABLE diff_b_unique = true; "
                f"SET VARIABLE diff_a_unique = {str(len({ds.cluster_id for ds in analysis.datasets}) == 1).lower()}")
    con.execute('CREATE OR REPLACE VIEW diff_a_records AS SELECT topic, partition, "offset", key, value FROM records')
    con.execute(f'CREATE OR REPLACE VIEW diff_b_records AS SELECT {rename} AS topic, partition, "offset", key, value FROM diff_b_raw')
    try:
        con.execute("CREATE OR REPLACE VIEW diff_a AS " + side("records", " AND ".join(f"({w})" for w in (where, where_a) if w)))
        con.execute("CREATE OR REPLACE VIEW diff_b AS " + side("diff_b_raw", " AND ".join(f"({w})" for w in (where, where_b) if w)))
        analysis.use("diff")
        summary = _dicts(con.execute("SELECT * FROM diff_summary ORDER BY topic"))
        total = sum(t[k] for t in summary for k in KINDS)
        rows = _dicts(con.execute("SELECT * FROM diff_listing ORDER BY topic, kind, coalesce(a_partition, b_partition), "
                                  "coalesce(a_offset, b_offset)"))
    except Exception as exc:  # a user's --where that DuckDB rejects
        import duckdb

        if isinstance(exc, duckdb.Error) and (where or where_a or where_b):
            raise UsageError(f"--where: {str(exc).splitlines()[0]}") from None
        raise
    finally:
        analysis._loaded.discard("diff")  # a later diff rebinds its views
    return DiffReport(identity, summary, [_difference(r) for r in rows], max(0, total - len(rows)))


def _other_dataset(analysis, other: str | Path):
    """B verified, unless it is one of A's datasets, verified when A was opened: files are read
    (sha256) once per diff."""
    from ..analysis.verify import load_dataset
    from ..store.fs import ObjectPath, as_path

    def same(path) -> str:
        return str(path) if isinstance(path, ObjectPath) else str(Path(path).resolve())

    root = same(as_path(other))
    for ds in analysis.datasets:
        if same(ds.root) == root:
            return ds
    return load_dataset(other, quiet=analysis.quiet)


def _other_event_ids(analysis, other, back: dict[str, str]) -> str:
    """B's event ids, extracted by a session over B with A's field mapping (B's topics read as the A
    topics they map to) and kept in a Parquet file in A's temporary directory: a relation on A's connection."""
    from dataclasses import replace

    from ..analysis.session import Analysis

    fields = replace(analysis.fields, topics={**analysis.fields.topics,
                                              **{b: analysis.fields.topics[a] for b, a in back.items() if a in analysis.fields.topics}})
    path = Path(analysis._temp_dir) / "diff_b_event_ids.parquet"
    with Analysis([other], fields, quiet=True) as session:
        session.connection.execute(f"COPY (SELECT topic, partition, \"offset\", event_id FROM events) TO '{path}' (FORMAT parquet)")
    return f"read_parquet('{path}')"


def _dicts(cursor) -> list[dict]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]
