"""Every check of the reference model: `findings(stream)` is what evkit must report for it."""
from __future__ import annotations

from . import keys, rules, schemas, sequences, streams
from .stream import Finding, Stream

CHECKS = {
    "field_coverage": streams.field_coverage,
    "duplicate": streams.duplicate,
    "offset_gap": streams.offset_gap,
    "sequence_gap": sequences.sequence_gap,
    "sequence_regression": sequences.sequence_regression,
    "silence": streams.silence,
    "out_of_order": streams.out_of_order,
    "split_key": keys.split_key,
    "partitioner": keys.partitioner,
    "key_encoding": keys.key_encoding,
    "partition_count_change": keys.partition_count_change,
    "size": rules.size,
    "rate": rules.rate,
    "flow": rules.flow,
    "custom": rules.custom,
    "schema_drift": schemas.schema_drift,
}


def findings(stream: Stream, checks=CHECKS) -> set[Finding]:
    """The union of the named checks' findings (default: all)."""
    return {finding for name in checks for finding in CHECKS[name](stream)}
