"""evkit's checks written a second time, as plain Python loops over records.

This package is the reference model of docs/analysis.md and docs/partitioners.md: obviously correct
rather than fast, with no DuckDB and no import of evkit's SQL or helpers. The differential test
(tests/test_reference_model.py) generates streams, writes them as evkit datasets, and asserts that
evkit's findings equal the model's as sets of `Finding` tuples.

Layout: `stream` holds the input types (records, dumped ranges, topic configs, field mappings,
check parameters), `events` derives the event fields of every record, one module per family of
checks computes findings, and `model.findings(stream)` is the union of all of them.
"""
