"""Preparation hooks of the partition-hash checks (split_key, partitioner, key_encoding,
partition_count_change): the key hashes DuckDB cannot compute itself, registered on an analysis
session's DuckDB connection before the checks' SQL runs (evkit/analysis/registry.py names them)."""
from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa

from .hashes import CANDIDATES, placement_hashes


# Macros the four checks' SQL shares: how a key and a time read in a finding's detail.
MACROS = """
CREATE OR REPLACE MACRO key_label(k) AS
    CASE WHEN NOT regexp_matches(try(decode(k)), '[\\x00-\\x1f\\x7f]') THEN chr(39) || decode(k) || chr(39)
         ELSE '0x' || lower(hex(k)) END;
CREATE OR REPLACE MACRO iso_ms(t) AS strftime(t, '%Y-%m-%dT%H:%M:%S.%gZ');
"""


def register_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define `key_label(key)` (quoted UTF-8 text, else 0x-hex) and `iso_ms(timestamp)` on the connection."""
    con.execute(MACROS)


def register_key_hashes(con: duckdb.DuckDBPyConnection) -> None:
    """The macros, and the table `key_hashes(key, partitioner, hash)`: for every distinct non-empty
    key of the dataset and every candidate partitioner, the hash whose `% n` is the key's partition."""
    register_macros(con)
    if con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'key_hashes'").fetchall()[0][0]:
        return
    # Masked datasets carry their raw keys' hashes (evkit/share/mask.py): only the other keys are hashed here.
    stored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'masked_key_placements'").fetchall()[0][0]
    keys = con.sql("SELECT DISTINCT key FROM records WHERE octet_length(key) > 0"
                   + (" AND key NOT IN (SELECT key FROM masked_key_placements)" if stored else "")
                   ).arrow().read_all().column("key")
    progress = con.execute("SELECT current_setting('enable_progress_bar')").fetchall()[0][0]  # off when not shown
    hashes = placement_hashes(keys, tuple(CANDIDATES), progress=progress)
    long_table = pa.table({
        "key": pa.chunked_array([chunk for _ in CANDIDATES for chunk in keys.chunks], type=keys.type),
        "partitioner": pa.DictionaryArray.from_arrays(
            np.repeat(np.arange(len(CANDIDATES), dtype=np.int8), len(keys)), list(CANDIDATES.values())),
        "hash": pa.concat_arrays([pa.array(hashes[name], pa.int64()) for name in CANDIDATES]),
    })
    con.register("key_hashes_arrow", long_table)
    con.execute("CREATE TABLE key_hashes AS SELECT * FROM key_hashes_arrow"
                + (" UNION ALL SELECT key, partitioner, hash FROM masked_key_placements" if stored else ""))
    con.unregister("key_hashes_arrow")


def register_masked_placements(con: duckdb.DuckDBPyConnection, files: list[str]) -> None:
    """The table `masked_key_placements(key, partitioner, hash)` from the `key_placement` column of
    masked data files: per hashed key, each candidate's hash of the raw key (reduced modulo lcm(1..N),
    which keeps `hash % n` for every n <= N). `register_key_hashes` takes these instead of hashing."""
    paths = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    selects = [f"SELECT key, '{label}' AS partitioner, key_placement.{name} AS hash FROM masked_files"
               for name, label in CANDIDATES.items()]
    con.execute(f"CREATE OR REPLACE TEMP VIEW masked_files AS SELECT DISTINCT key, key_placement "
                f"FROM read_parquet([{paths}]) WHERE key_placement IS NOT NULL")
    con.execute(f"CREATE TABLE masked_key_placements AS {' UNION ALL '.join(selects)}")
