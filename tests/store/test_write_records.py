"""evkit.store.writer.write_records records when its simulated dump fixed the end offsets (`end_fixed_at`)."""
from __future__ import annotations

import json

import pyarrow.compute as pc
import pyarrow.parquet as pq

from evkit._text import utc_now
from support import REPO
from evkit.store.layout import data_files
from evkit.store.records import records_table
from evkit.store.writer import write_records

SAMPLE = REPO / "data" / "sports-betting"
ROWS = [{"topic": "t", "partition": p, "offset": 0, "timestamp": ts, "key": b"k", "value": b"v"}
        for p, ts in ((0, 1_700_000_001_000), (1, 1_700_000_009_250))]


def moments(manifest: dict) -> list[str]:
    return [p["end_fixed_at"] for p in manifest["partitions"]]


def test_default_is_the_latest_record_timestamp_for_every_partition(tmp_path):
    manifest = write_records(tmp_path / "ds", records_table(ROWS)).to_json()
    assert moments(manifest) == ["2023-11-14T22:13:29.250Z"] * 2
    (written,) = (json.loads(p.read_text()) for p in (tmp_path / "ds" / "_evkit" / "runs").glob("*.json"))
    assert moments(written) == moments(manifest)


def test_an_explicit_moment_is_recorded(tmp_path):
    manifest = write_records(tmp_path / "ds", records_table(ROWS), end_fixed_at=1_700_000_060_007).to_json()
    assert moments(manifest) == ["2023-11-14T22:14:20.007Z"] * 2


def test_without_records_the_moment_is_the_time_of_writing(tmp_path):
    before = utc_now()
    manifest = write_records(tmp_path / "ds", records_table([]), ranges={("t", 0): (5, 5)}).to_json()
    (moment,) = moments(manifest)
    assert before <= moment <= utc_now()  # one format, so text order is time order


def test_the_sample_was_dumped_right_after_its_last_record():
    """synth's simulated dump runs once its 20 minutes are over and the last record (a late login) is
    written; the committed sample records that moment as the run's times and every end_fixed_at."""
    (run,) = (json.loads(p.read_text()) for p in (SAMPLE / "_evkit" / "runs").glob("*.json"))
    latest = max(pc.max(pq.read_table(p, columns=["timestamp"]).column("timestamp")).as_py() or 0
                 for p in data_files(SAMPLE) if pq.read_metadata(p).num_rows)
    moment = latest.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert moment == "2025-11-22T19:20:05.874Z"
    assert set(moments(run)) == {run["started_at"]} == {run["finished_at"]} == {moment}
