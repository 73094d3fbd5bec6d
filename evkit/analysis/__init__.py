"""Analysis of datasets with DuckDB: verification, the session, event fields, the check registry and findings."""
