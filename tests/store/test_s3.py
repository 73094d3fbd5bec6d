"""Datasets on S3-compatible object storage, against a real S3 server (moto's, `s3_endpoint`) and
the real broker: dump, open, check and report over s3:// as over a directory, atomic, resumable,
verified, and reading only the objects a query needs (bytes fetched, measured)."""
from __future__ import annotations

import json
import os
import time

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

import evkit
import evkit.store.fs as store_fs
from evkit.cli import main
from evkit.errors import DatasetError
from evkit.share.mask import fingerprint
from evkit.store.fs import ObjectPath, as_path
from evkit.store.layout import data_files
from evkit.store.manifest import read_manifests, write_manifest
from support import REPO
from support.dumping import dataset_rows, produce
from support.engines import comparable

pytestmark = pytest.mark.broker

BASE_TS = (int(time.time()) - 3600) * 1000


def object_rows(url: str) -> list[dict]:
    """Every row of a dataset in object storage, ordered by topic, partition, offset."""
    rows = [r for path in data_files(url) for r in pq.read_table(path.open_input_file()).to_pylist()]
    return sorted(rows, key=lambda r: (r["topic"], r["partition"], r["offset"]))


@pytest.fixture
def two_topics(bootstrap, make_topic) -> tuple[str, str]:
    """Topic `a` (2 partitions, 40 records with headers, null and empty keys) and topic `b` (1 partition, 30)."""
    a, b = make_topic(partitions=2, prefix="s3-a"), make_topic(prefix="s3-b")
    produce(bootstrap, a, [{"key": None if i % 7 == 0 else f"k{i}".encode(), "value": b"" if i % 5 == 0 else b"v" * i,
                            "partition": i % 2, "timestamp": BASE_TS + i * 1000,
                            "headers": [("h", str(i).encode()), ("h", None)] if i % 3 == 0 else None}
                           for i in range(40)])
    produce(bootstrap, b, [{"key": f"b{i}".encode(), "value": b"x" * 100, "timestamp": BASE_TS + i * 1000}
                           for i in range(30)])
    return a, b


def test_a_dump_to_s3_equals_the_local_dump_row_for_row_and_opens_checks_and_reports(
        bootstrap, two_topics, s3_url, tmp_path, capsys):
    a, b = two_topics
    local = evkit.dump(bootstrap=bootstrap, out=tmp_path / "local", topics=[a, b], quiet=True).to_json()
    assert main(["dump", "-b", bootstrap, "-o", s3_url, "-t", a, "-t", b, "-q"]) == 0
    remote = read_manifests(s3_url)[0].to_json()

    assert object_rows(s3_url) == dataset_rows(tmp_path / "local")
    assert comparable(remote) == comparable(local)
    with evkit.open(s3_url, verify="full") as ds, evkit.open(tmp_path / "local") as here:
        assert str(ds.datasets[0].root) == s3_url.split("?")[0]
        assert ds.records.order("topic, partition, \"offset\"").fetchall() == \
            here.records.order("topic, partition, \"offset\"").fetchall()
    capsys.readouterr()
    code = main(["check", s3_url, "--format", "json", "-q"])
    from_s3 = capsys.readouterr().out
    assert main(["check", str(tmp_path / "local"), "--format", "json", "-q"]) == code == 1
    assert from_s3 == capsys.readouterr().out  # the same findings and summary, line for line

    # the whole report over s3://: the HTML with the dataset's findings, titled by the URL without its options
    out = tmp_path / "report"
    assert main(["report", str(REPO / "notebooks" / "incident_review.ipynb"), "-p", f"dataset={s3_url}",
                 "--out", str(out), "-q"]) == 1
    assert json.loads((out / "findings.json").read_text()) == evkit.check(s3_url, quiet=True).findings != []
    html = (out / "incident_review.html").read_text()
    assert f"<title>Incident review: {s3_url.split('?')[0]} · cluster " in html
    assert "endpoint_override" not in html and "127.0.0.1" not in html


def test_an_interrupted_run_on_s3_resumes_and_rewrites_only_what_is_missing(bootstrap, two_topics, s3_url):
    a, _ = two_topics
    evkit.dump(bootstrap=bootstrap, out=s3_url, topics=[a], quiet=True, file_size=1)  # a file per row group
    (manifest,) = read_manifests(s3_url)
    before = {str(p): p.stat().st_size for p in data_files(s3_url)}
    lost = manifest.partitions[1].files[0]
    (as_path(s3_url) / lost.path).unlink()  # killed before this file was uploaded, and before the end
    manifest.status = "interrupted"
    write_manifest(as_path(s3_url), manifest)
    with pytest.raises(DatasetError, match="is interrupted, not complete"):
        evkit.open(s3_url)

    resumed = evkit.dump(bootstrap=bootstrap, out=s3_url, topics=[a], quiet=True, file_size=1)
    assert resumed.run_id == manifest.run_id and resumed.status == "complete"
    assert {str(p): p.stat().st_size for p in data_files(s3_url)} == before
    assert [p.records for p in resumed.partitions] == [20, 20]
    with evkit.open(s3_url) as ds:
        assert ds.records.count("*").fetchall() == [(40,)]


def test_verification_finds_a_changed_object_and_an_unlisted_one(bootstrap, two_topics, s3_url):
    a, _ = two_topics
    evkit.dump(bootstrap=bootstrap, out=s3_url, topics=[a], quiet=True)
    first = next(iter(data_files(s3_url)))
    original = first.read_bytes()
    first.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))  # same size, one bit
    evkit.open(s3_url).close()  # by default, sizes from the listing: no object is read
    with pytest.raises(DatasetError, match="sha256 differs"):
        evkit.open(s3_url, verify="full")
    first.write_bytes(original + b"x")
    with pytest.raises(DatasetError, match=r"size \d+ differs"):
        evkit.open(s3_url)
    first.write_bytes(original)
    (first.parent / "00000000000000000500-00000000000000000600.parquet").write_bytes(original)
    with pytest.raises(DatasetError, match="not listed in any run manifest"):
        evkit.open(s3_url)


def test_a_dataset_masked_at_dump_time_checks_on_s3_as_on_disk(bootstrap, two_topics, s3_url, tmp_path):
    a, _ = two_topics  # the partition-hash checks read the raw keys' placement hashes from the objects
    for out in (s3_url, tmp_path / "local"):
        evkit.dump(bootstrap=bootstrap, out=out, topics=[a], mask={"defaults": {"key": "hash"}}, mask_key=b"k" * 32,
                   quiet=True)
    from_s3, local = evkit.check(s3_url, quiet=True), evkit.check(tmp_path / "local", quiet=True)
    assert from_s3.findings == local.findings and from_s3.exit_code == local.exit_code
    assert [m["key_fingerprint"] for m in from_s3.summary["masked"]] == [fingerprint(b"k" * 32)]


class _Counting(pafs.FileSystemHandler):
    """Instrumentation, not a double: every call goes to the real S3 filesystem; bytes read are counted per key."""

    def __init__(self, real: pafs.FileSystem):
        self.real, self.read = real, {}

    def _count(self, path: str, stream):
        handler = self

        class Reader:
            def read(self, n=-1):
                data = stream.read() if n is None or n < 0 else stream.read(n)
                handler.read[path] = handler.read.get(path, 0) + len(data)
                return data

            def seek(self, *args):
                return stream.seek(*args)

            def tell(self):
                return stream.tell()

            def close(self):
                stream.close()

            @property
            def closed(self):
                return stream.closed

        return pa.PythonFile(Reader(), mode="r")

    def open_input_file(self, path):
        return self._count(path, self.real.open_input_file(path))

    def open_input_stream(self, path):
        return self._count(path, self.real.open_input_stream(path))

    def get_type_name(self):
        return "counting"

    def get_file_info(self, paths):
        return self.real.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.real.get_file_info(selector)

    def normalize_path(self, path):
        return self.real.normalize_path(path)

    def _refused(self, *args, **kwargs):
        raise AssertionError("a query wrote to object storage")

    copy_file = create_dir = delete_dir = delete_dir_contents = delete_file = delete_root_dir_contents = _refused
    move = open_append_stream = open_output_stream = _refused


def test_a_query_on_one_topic_fetches_none_of_the_other_topics_objects(bootstrap, two_topics, s3_url, monkeypatch):
    a, b = two_topics
    evkit.dump(bootstrap=bootstrap, out=s3_url, topics=[a, b], quiet=True)
    real = ObjectPath.from_uri(s3_url).fs
    counting = _Counting(real)
    monkeypatch.setattr(store_fs, "_filesystem", lambda query: pafs.PyFileSystem(counting))
    sizes = {info.path: info.size for info in real.get_file_info(
        pafs.FileSelector(ObjectPath.from_uri(s3_url).key, recursive=True)) if info.path.endswith(".parquet")}

    with evkit.open(s3_url) as ds:
        counting.read.clear()  # opening reads the manifests only
        plan = ds.sql("EXPLAIN SELECT * FROM records").fetchall()[0][1]
        assert "READ_PARQUET" in plan and "~70 rows" in plan  # the manifests' count: joins build on the small side
        assert ds.sql(f"SELECT count(*), sum(value_size) FROM records WHERE topic = '{a}'").fetchall() == [
            (40, sum(i for i in range(40) if i % 5))]
        assert counting.read and all(f"/topic={a}/" in key for key in counting.read)
        counting.read.clear()
        assert ds.sql(f"SELECT count(*) FROM records WHERE topic = '{b}' AND \"offset\" < 10").fetchall() == [(10,)]
        assert list(counting.read) == [key for key in sizes if f"/topic={b}/" in key]
        counting.read.clear()
        timeline = ds.timeline(topics=[a]).fetchall()
        assert len(timeline) == 40 and all(f"/topic={a}/" in key for key in counting.read)
    fetched = sum(counting.read.values())
    print(f"\nS3 bytes fetched for one topic's timeline: {fetched} of {sum(sizes.values())} stored")
    assert fetched < sum(size for key, size in sizes.items() if f"/topic={a}/" in key) * 2


def test_a_time_filter_fetches_no_column_data_of_an_object_outside_it(bootstrap, make_topic, s3_url, monkeypatch):
    """Row-group statistics prune by time on S3 as on disk: of an object whose records all fall before
    the filter, DuckDB fetches the footer it judges by (16 KiB from the end) and none of its values."""
    topic = make_topic(partitions=2, prefix="s3-time")
    produce(bootstrap, topic, [{"key": b"k", "value": os.urandom(20_000), "partition": p, "timestamp": BASE_TS + t * 1000}
                               for p, first in ((0, 0), (1, 100)) for t in range(first, first + 10)])
    evkit.dump(bootstrap=bootstrap, out=s3_url, topics=[topic], quiet=True)
    real = ObjectPath.from_uri(s3_url).fs
    counting = _Counting(real)
    monkeypatch.setattr(store_fs, "_filesystem", lambda query: pafs.PyFileSystem(counting))
    (early, early_size), (late, late_size) = sorted(
        (info.path, info.size) for info in real.get_file_info(pafs.FileSelector(ObjectPath.from_uri(s3_url).key,
                                                                                  recursive=True))
        if info.path.endswith(".parquet"))

    with evkit.open(s3_url) as ds:
        counting.read.clear()
        assert ds.sql(f"SELECT count(*), sum(octet_length(value)) FROM records WHERE timestamp >= epoch_ms({BASE_TS + 100_000})"
                      ).fetchall() == [(10, 200_000)]
    assert "/partition=0/" in early and late_size > 200_000 and early_size > 200_000
    assert counting.read[late] >= 200_000  # the values read
    assert counting.read.get(early, 0) < 20_000  # less than one record's value: the footer and its tail only
    print(f"\nS3 bytes fetched of the object outside the time filter: {counting.read.get(early, 0)} of {early_size}")


def test_bad_s3_locations_are_one_line_errors(s3_endpoint, s3_url, tmp_path, capsys):
    assert main(["check", "s3://evkit-no-such-bucket/x?endpoint_override=" + s3_endpoint]) == 2
    assert capsys.readouterr().err == ("evkit: error: s3://evkit-no-such-bucket/x: not an evkit dataset "
                                       "(no _evkit/dataset.json)\n")
    assert main(["check", s3_url + "&secret_key=abc"]) == 2
    assert capsys.readouterr().err.startswith("evkit: error: s3:// URL option 'secret_key' is not supported")
    assert "abc" not in json.dumps(str(ObjectPath.from_uri(s3_url)))
