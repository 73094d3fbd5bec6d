"""The native reader (evkit/cluster/_native_reader.c) writes what the Python reader writes, says which
reader it is, and evkit falls back to the Python reader where it is not built."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

import evkit
import evkit.cluster.native
from evkit.errors import UsageError
from evkit.store.layout import PARQUET_META_KEY, data_files, manifest_path
from evkit.store.manifest import read_manifests
from support.dumping import produce
from test_dump import BASE_TS, transactional_topic

pytestmark = pytest.mark.broker

# What differs between two dumps of the same range: the run, its moments, and the files' bytes (a
# row group per consumed batch: how librdkafka's batches fall is timing, in either reader).
RUN_FIELDS = ("run_id", "started_at", "finished_at")
FILE_FIELDS = ("bytes", "sha256")


def comparable_manifest(root) -> dict:
    (manifest,) = read_manifests(root)
    data = json.loads(manifest_path(root, manifest.run_id).read_text())
    for key in RUN_FIELDS:
        data.pop(key)
    for part in [*data["partitions"], *data["plan"]]:
        part.pop("end_fixed_at")
        for entry in part.get("files", []):
            for key in FILE_FIELDS:
                entry.pop(key)
    return data


def parquet_contents(root) -> dict:
    """Per file: its schema, evkit's metadata without the run id, and its rows."""
    contents = {}
    for path in data_files(root):
        table = pq.read_table(path)
        meta = json.loads(pq.read_metadata(path).metadata[PARQUET_META_KEY])
        meta.pop("run_id")
        contents[path.relative_to(root).as_posix()] = (table.schema, meta, table.to_pylist())
    return contents


def test_both_readers_write_the_same_dataset(bootstrap, make_topic, tmp_path, native_reader):
    """Three partitions: null, empty, binary and UTF-8 keys, tombstones, repeated and null headers, a
    transaction's markers and an aborted batch (skipped offsets), a range starting mid-partition."""
    topic = make_topic(partitions=3)
    odd = [(None, b"no key", None), (b"", b"", [("dup", b"1"), ("dup", b"2"), ("nul", None), ("e", b"")]),
           (b"\xff\x00binary", None, None), ("ключ".encode(), bytes(range(256)), [("n", b"x")])]
    produce(bootstrap, topic, [{"key": odd[i % 4][0], "value": odd[i % 4][1], "headers": odd[i % 4][2],
                                "partition": i % 3, "timestamp": BASE_TS + i} for i in range(1500)])
    transactional_topic(bootstrap, topic)  # partition by key: offsets skipped in one of them
    request = {"bootstrap": bootstrap, "topics": [topic], "start": ["beginning", f"{topic}:1=7"], "quiet": True}
    native = evkit.dump(out=tmp_path / "native", reader="native", **request)
    python = evkit.dump(out=tmp_path / "python", reader="python", **request)
    assert native.records == python.records == 1500 - 7 + 4
    assert any(p.skipped for p in native.partitions)
    assert parquet_contents(tmp_path / "native") == parquet_contents(tmp_path / "python")
    assert comparable_manifest(tmp_path / "native") == comparable_manifest(tmp_path / "python")


@pytest.fixture
def native_reader():
    assert evkit.cluster.native.native_module() is not None, "the native reader is not built: run `make native-reader`"


def test_verbose_names_the_reader_in_use(bootstrap, make_topic, tmp_path, native_reader):
    topic = make_topic()
    produce(bootstrap, topic, [{"key": b"k", "value": b"v"}])
    env = {k: v for k, v in os.environ.items() if k != "EVKIT_READER"}

    def reading_line(*extra: str) -> str:
        out = tmp_path / f"ds{len(extra)}"
        result = subprocess.run([sys.executable, "-m", "evkit.cli", "-v", "dump", "-b", bootstrap, "-o", str(out),
                                 "-t", topic, "-q", *extra], capture_output=True, text=True, timeout=120, env=env)
        assert result.returncode == 0, result.stderr
        (line,) = [line for line in result.stderr.splitlines() if "reading with" in line]
        return line.split(" evkit.dump INFO ", 1)[1]

    assert reading_line() == "reading with the native reader in this process"  # the default where it is built
    assert reading_line("--reader", "python") == "reading with the python reader in this process"


def test_without_the_extension_the_python_reader_is_the_default(bootstrap, make_topic, tmp_path, monkeypatch):
    """A test double stands for a machine without a C compiler: native_module() finds no extension."""
    monkeypatch.setattr(evkit.cluster.native, "native_module", lambda: None)
    monkeypatch.delenv("EVKIT_READER", raising=False)
    topic = make_topic()
    produce(bootstrap, topic, [{"key": b"k", "value": b"v"}])
    assert evkit.dump(bootstrap=bootstrap, out=tmp_path / "ds", topics=[topic], quiet=True).records == 1
    with pytest.raises(UsageError, match=r"^--reader native: the native reader is not built here .*use --reader python$"):
        evkit.dump(bootstrap=bootstrap, out=tmp_path / "other", topics=[topic], reader="native", quiet=True)
    with pytest.raises(UsageError, match=r"^--reader must be one of native, python, not 'rust'$"):
        evkit.dump(bootstrap=bootstrap, out=tmp_path / "other", topics=[topic], reader="rust", quiet=True)
    assert not (tmp_path / "other").exists()


def test_a_native_dump_imports_neither_pandas_nor_duckdb(bootstrap, make_topic, tmp_path, native_reader):
    """Their imports were a fifth of a 1M-record dump's CPU (docs/benchmarks.md); pyarrow imports pandas
    on any `pa.array(...)` or `to_numpy()`, so this guards the whole dump path, headers included."""
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, [{"key": b"k%d" % i, "value": b"v", "headers": [("h", b"1")], "partition": i % 2}
                               for i in range(50)])
    script = ("import sys, evkit; evkit.dump(bootstrap=sys.argv[1], out=sys.argv[2], topics=[sys.argv[3]], "
              "reader='native', quiet=True); print(sorted({'pandas', 'duckdb'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script, bootstrap, str(tmp_path / "ds"), topic],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
