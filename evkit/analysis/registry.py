"""The check registry: every check, its finding names, parameters with their defaults, the event
fields it requires and its preparation hook; and the columns every check's findings have.

A check is one SQL file `evkit/analysis/sql/<name>.sql` that defines the view `<name>_findings`
with the columns of FINDING_COLUMNS, plus one `register(Check(...))` line here. Parameters are
DuckDB variables `<check>_<param>`, set by the session from these defaults and the config's
`[checks.<name>]`; the SQL reads them with `getvariable('<check>_<param>')`. This module imports
nothing of the analysis session, so the session, the findings and the partition-hash hooks can
all depend on it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..partitioning import checks as hashchecks
from ..schemas import compat

if TYPE_CHECKING:
    import duckdb

    from .fields import FieldConfig

FINDING_COLUMNS = '"check", severity, topic, partition, key, offsets, event_ids, first_ts, last_ts, detail'


@dataclass(frozen=True)
class Check:
    """A registered check: its SQL file name, the finding names it emits, its parameters (name ->
    default: a number, or a string for names such as a header), the event fields without a default
    it cannot do without, the checks whose SQL it reads (loaded first) and an optional hook that
    registers extra relations on the DuckDB connection before its SQL runs."""

    name: str
    summary: str
    emits: tuple[str, ...] = ()
    params: Mapping[str, int | float | str] = field(default_factory=dict, compare=False)
    requires: tuple[str, ...] = ()  # a topic that maps none of these is skipped, and reported skipped
    after: tuple[str, ...] = ()
    prepare: Callable[[duckdb.DuckDBPyConnection], None] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.emits:
            object.__setattr__(self, "emits", (self.name,))

    def settings(self, configured: Mapping[str, Any]) -> dict[str, int | float | str]:
        """The parameters' values: the defaults with `configured` (a config's `[checks.<name>]`) over
        them; UsageError for an unknown parameter or a value of the wrong kind."""
        values = dict(self.params)
        for param, value in configured.items():
            if param not in self.params:
                raise UsageError(f"config [checks.{self.name}]: unknown parameter {param!r}; "
                                 f"parameters are {', '.join(self.params) or 'none'}")
            text = isinstance(self.params[param], str)
            if text != isinstance(value, str) or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise UsageError(f"config [checks.{self.name}].{param}: expected {'a string' if text else 'a number'}, "
                                 f"got {value!r}")
            values[param] = value
        return values


CHECKS: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add a check to the registry (a later registration of the same name replaces it)."""
    CHECKS[check.name] = check
    return check


register(Check("field_coverage", "values that do not decode or lack a mapped field"))
register(Check("duplicate", "the same event stored more than once, and re-published ranges",
               params={"burst_min": 10, "burst_window_ms": 60000}))
register(Check("offset_gap", "offsets Kafka did not deliver that nothing explains"))
register(Check("sequence_gap", "missing (lost/unseen) and backwards sequence numbers per entity",
               emits=("sequence_gap", "sequence_regression"), params={"unseen_ms": 10000}, requires=("sequence",)))
register(Check("silence", "partitions or entities quiet far longer than their usual interval",
               params={"factor": 20, "min_events": 20, "min_ms": 1000}))
register(Check("out_of_order", "event-time regressions per entity and partition; entities split over partitions",
               params={"tolerance_ms": 0}))
register(Check("split_key", "keys whose records sit in more than one partition of a topic",
               prepare=hashchecks.register_macros))
register(Check("partitioner", "which partitioner each producer used; producers that disagree or fit none",
               params={"min_fit": 0.99, "producer_header": "producer"}, prepare=hashchecks.register_key_hashes))
register(Check("key_encoding", "one logical key written as different bytes (text, int32/int64, JSON, Schema Registry)",
               prepare=hashchecks.register_macros))
register(Check("size", "values over max_bytes; documents that keep growing from their first version to their last",
               params={"max_bytes": 524288, "growth_factor": 10, "min_versions": 10}))
register(Check("rate", "the analyst's [rates.*]: more than max events of a group in a sliding window"))
register(Check("flow", "the analyst's [flows.*]: causes whose effect is missing, pending, late or repeated; orphan effects"))
register(Check("custom", "the analyst's [rules.*]: custom SQL queries reported as findings"))
register(Check("schema_drift", "JSON structures and registry schemas that change mid-stream: fields added, removed, retyped",
               params={"min_expected": 10}, prepare=compat.register_schema_changes))
register(Check("partition_count_change", "keys placed for an earlier, smaller partition count: the topic grew",
               params={"min_records": 20}, after=("partitioner",)))


def select(names: Iterable[str] | str | None) -> dict[Check, set[str]]:
    """Check -> finding names wanted, for check or finding names (comma-separated string or list)."""
    if names is None:
        return {check: set(check.emits) for check in CHECKS.values()}
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    selected: dict[Check, set[str]] = {}
    for name in names:
        owner = CHECKS.get(name) or next((c for c in CHECKS.values() if name in c.emits), None)
        if owner is None:
            known = sorted({n for c in CHECKS.values() for n in (c.name, *c.emits)})
            raise UsageError(f"unknown check {name!r}; checks are {', '.join(known)}")
        selected.setdefault(owner, set()).update(owner.emits if name == owner.name else {name})
    if not selected:
        raise UsageError("no checks selected")
    return selected


def skipped_topics(check: Check, topics: Iterable[str], fields: FieldConfig) -> list[str]:
    """The topics `check` cannot run on: they lack a field it requires."""
    return [topic for topic in topics if not set(check.requires) <= fields.sources(topic).keys()]


def skip_reason(check: Check, *, partial: bool) -> str:
    """Why `check` did not run on all topics (`partial`) or on any, with the option that fixes it."""
    needs = " and ".join(check.requires)
    options = " ".join(f"--field {'TOPIC:' if partial else ''}{name}=SOURCE" for name in check.requires)
    table = ", ".join(f"{name} = SOURCE" for name in check.requires)
    who = f"they map no {needs} field" if partial else f"no topic maps a {needs} field"
    return f"{who} ({options} or [topics.<t>] {table})"
