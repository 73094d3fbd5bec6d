"""evkit synth: reproducible bytes, the committed sample, every injected incident where data/README.md
says it is, clean streams when incidents are off, and the same records through a real broker."""
from __future__ import annotations

import json
import struct
import tomllib
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from support.dumping import dataset_rows

from evkit import check
from evkit.cli import main
from evkit.store.layout import data_files
from evkit.partitioning.hashes import partition_keys
from evkit.reporting.runner import prepare_review
from evkit.sample.synth import FIELDS, INCIDENTS, TOPICS, synth

from support import REPO
SAMPLE = REPO / "data" / "sports-betting"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "sample"
    return out, synth(out, seed=7, quiet=True)


@pytest.fixture(scope="module")
def sample_rows(sample) -> list[dict]:
    return dataset_rows(sample[0])


def files_by_name(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def envelope(row: dict) -> dict:
    return json.loads(row["value"])


def test_same_seed_gives_byte_identical_dataset(sample, tmp_path):
    synth(tmp_path / "again", seed=7, quiet=True)
    assert files_by_name(tmp_path / "again") == files_by_name(sample[0])


def test_other_seed_gives_other_records(sample, tmp_path):
    synth(tmp_path / "other", seed=8, quiet=True)
    assert dataset_rows(tmp_path / "other", ["value"]) != dataset_rows(sample[0], ["value"])


def test_committed_sample_is_what_synth_writes(sample):
    """data/ is regenerated with `evkit synth data/sports-betting` (seed 7). Parquet bytes also carry
    the writer's version (`created_by`), so bytes are compared when this pyarrow wrote the committed
    files; with another pyarrow the decoded rows and the manifest are compared instead."""
    regenerated, committed = files_by_name(sample[0]), files_by_name(SAMPLE)
    assert sorted(regenerated) == sorted(committed)
    first = next(data_files(SAMPLE))
    if pq.read_metadata(first).created_by == pq.read_metadata(next(data_files(sample[0]))).created_by:
        assert regenerated == committed
    else:
        assert dataset_rows(sample[0]) == dataset_rows(SAMPLE)


def test_topics_partitions_and_envelopes(sample, sample_rows):
    _, summary = sample
    assert summary["records"] == len(sample_rows) == 20_399
    assert summary["topics"] == dict(Counter(r["topic"] for r in sample_rows))
    every_partition = {(t, p) for t, n in TOPICS.items() for p in range(n)}
    assert {(p.topic, p.partition) for p in summary["manifest"].partitions} == every_partition
    # 12 match keys on 6 partitions: Java murmur2 leaves odds-updates/1 empty, as a real producer would
    assert every_partition - {(r["topic"], r["partition"]) for r in sample_rows} == {("odds-updates", 1)}
    for row in sample_rows:
        event = envelope(row)
        assert set(event) == {"id", "source", "type", "subject", "sequence", "time", "data"}
        assert [h["key"] for h in row["headers"]] == ["traceparent", "producer"]
        version, trace, span, flags = row["headers"][0]["value"].decode().split("-")
        assert (version, len(trace), len(span), flags) == ("00", 32, 16, "01")
    assert FIELDS == {"event_id": "$.id", "entity": "$.subject", "event_time": "$.time",
                      "sequence": "$.sequence", "event_type": "$.type", "trace_id": "header:traceparent"}
    config = tomllib.loads((REPO / "data" / "sports-betting.toml").read_text())
    assert config["defaults"] == FIELDS and set(config) == {"defaults", "rates", "flows"}  # and the rules (docs/rules.md)


def test_republished_range_is_byte_identical_copies(sample, sample_rows):
    truth = sample[1]["incidents"]["republished_range"]
    by_offset = {r["offset"]: r for r in sample_rows if (r["topic"], r["partition"]) == ("odds-updates", 2)}
    assert (truth["topic"], truth["partition"], len(truth["original_offsets"])) == ("odds-updates", 2, 120)
    for original, copy in zip(truth["original_offsets"], truth["copy_offsets"]):
        a, b = by_offset[original], by_offset[copy]
        assert (a["key"], a["value"], a["headers"]) == (b["key"], b["value"], b["headers"])
        assert b["timestamp"] > a["timestamp"]
    ids = Counter(envelope(r)["id"] for r in sample_rows)
    assert sorted(n for n in ids.values() if n > 1) == [2] * 120


def test_lost_events_leave_exactly_one_sequence_hole_each(sample, sample_rows):
    lost = sample[1]["incidents"]["lost_events"]
    assert len(lost) == 4
    sequences = defaultdict(set)
    for row in sample_rows:
        event = envelope(row)
        sequences[(row["topic"], event["subject"])].add(event["sequence"])
    holes = {(topic, subject, n) for (topic, subject), seen in sequences.items()
             for n in range(1, max(seen) + 1) if n not in seen}
    assert holes == {("bets", e["subject"], e["sequence"]) for e in lost}
    assert all(max(sequences[("bets", e["subject"])]) > e["sequence"] for e in lost)  # lost, not unseen


def test_late_events_arrive_a_minute_or_more_after_their_event_time(sample, sample_rows):
    late = sample[1]["incidents"]["late_events"]
    assert len(late) == 5 and all(60_000 <= e["lateness_ms"] <= 90_100 for e in late)
    lateness = {envelope(r)["id"]: r["timestamp"] for r in sample_rows if r["topic"] == "match-events"}
    assert all(e["topic"] == "match-events" and e["event_id"] in lateness for e in late)


def test_second_producers_place_and_encode_keys_their_own_way(sample_rows):
    bets = [r for r in sample_rows if r["topic"] == "bets"]
    by_producer = defaultdict(list)
    for row in bets:
        by_producer[row["headers"][1]["value"].decode()].append(row)
    assert sorted(by_producer) == ["bet-service", "cashout-service", "settlement-service"]
    for producer, partitioner in (("bet-service", "java_murmur2"), ("settlement-service", "sarama_hash"),
                                  ("cashout-service", "java_murmur2")):
        rows = by_producer[producer]
        assert list(partition_keys([r["key"] for r in rows], 6, partitioner)) == [r["partition"] for r in rows]
    assert all(r["key"] == struct.pack(">i", int(envelope(r)["subject"])) for r in by_producer["cashout-service"])
    assert all(r["key"] == envelope(r)["subject"].encode() for r in by_producer["settlement-service"])


def test_auth_burst_growing_document_and_schema_change(sample_rows):
    burst = [r for r in sample_rows if r["topic"] == "auth-attempts" and r["key"] == b"1337"
             and envelope(r)["type"] == "login_failed"]
    assert len(burst) >= 400
    sizes = [r["value_size"] for r in sorted((r for r in sample_rows if r["topic"] == "accounts" and r["key"] == b"1100"),
                                             key=lambda r: r["offset"])]
    assert sizes == sorted(sizes) and sizes[-1] > 20 * sizes[0]
    # one deploy: the odds engine v2 sends the price as a string and adds a currency, together
    odds = [envelope(r)["data"] for r in sample_rows if r["topic"] == "odds-updates"]
    assert Counter((type(d["price"]).__name__, d.get("currency")) for d in odds) == {("float", None): 3_628,
                                                                                    ("str", "EUR"): 3_769}
    assert all(set(envelope(r)["data"]) <= {"match_id", "minute", "team"} for r in sample_rows if r["topic"] == "match-events")


def test_clean_streams_have_none_of_the_incidents(tmp_path):
    summary = synth(tmp_path / "clean", incidents="none", quiet=True)
    rows = dataset_rows(tmp_path / "clean")
    assert summary["incidents"] == {}
    assert len({envelope(r)["id"] for r in rows}) == len(rows)
    assert {r["headers"][1]["value"] for r in rows if r["topic"] == "bets"} == {b"bet-service"}
    assert all(r["key"] == envelope(r)["subject"].encode() for r in rows)
    sequences = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["timestamp"]):
        sequences[(row["topic"], envelope(row)["subject"])].append(envelope(row)["sequence"])
    assert all(seen == list(range(1, len(seen) + 1)) for seen in sequences.values())
    assert {type(envelope(r)["data"]["price"]) for r in rows if r["topic"] == "odds-updates"} == {float}


def test_clean_streams_give_no_warning_or_error(tmp_path):
    synth(tmp_path / "clean", incidents="none", quiet=True)
    report = check(tmp_path / "clean", fields=FIELDS, quiet=True)
    assert [f for f in report.findings if f["severity"] != "info"] == []


@pytest.mark.parametrize("argv, message", [
    (["synth", "--incidents", "bogus"], "unknown incident bogus; choose from all, none, " + ", ".join(INCIDENTS)),
    (["synth"], "synth needs an output directory, --bootstrap BOOTSTRAP, or both"),
    (["synth", "OUT", "--minutes", "5"], "synth needs --minutes >= 16, --users >= 400 and --matches >= 3 to stage its incidents"),
    (["synth", "OUT", "-X", "linger.ms"], "-X 'linger.ms': expected key=value"),
])
def test_bad_options_are_one_line_errors(argv, message, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    assert main(argv) == 2
    assert capsys.readouterr().err == f"evkit: error: {message}\n"
    assert not (tmp_path / "out").exists()


def test_refuses_a_directory_that_is_not_empty(sample, capsys):
    before = files_by_name(sample[0])
    assert main(["synth", str(sample[0])]) == 2
    assert capsys.readouterr().err == f"evkit: error: {sample[0]} is not empty; synth writes a fresh dataset, choose a new directory\n"
    assert files_by_name(sample[0]) == before


@pytest.mark.broker
def test_synth_to_a_cluster_produces_the_same_records_the_dataset_holds(bootstrap, tmp_path):
    prefix = f"synth-{uuid.uuid4().hex[:8]}."
    assert main(["synth", str(tmp_path / "expected"), "--bootstrap", bootstrap, "--topic-prefix", prefix, "--quiet"]) == 0
    # the template's live mode: dump (read-only) into the dataset it then reviews
    dumped, config = prepare_review(tmp_path / "dumped", bootstrap=bootstrap, topics=[prefix + t for t in TOPICS],
                                    quiet=True)
    assert (dumped, config) == (tmp_path / "dumped", None)
    columns = ["topic", "partition", "offset", "timestamp", "key", "value", "headers"]
    assert dataset_rows(tmp_path / "dumped", columns) == dataset_rows(tmp_path / "expected", columns)


@pytest.mark.broker
def test_synth_to_a_cluster_refuses_topics_that_hold_records(bootstrap, tmp_path, capsys):
    prefix = f"synth-{uuid.uuid4().hex[:8]}."
    assert main(["synth", "--bootstrap", bootstrap, "--topic-prefix", prefix, "--quiet"]) == 0
    assert main(["synth", "--bootstrap", bootstrap, "--topic-prefix", prefix, "--quiet"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"evkit: error: topic {prefix}match-events already holds records; use --topic-prefix to write fresh topics")
