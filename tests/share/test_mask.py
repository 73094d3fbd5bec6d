"""Masking: exact rules, no raw byte anywhere in what is written, the partitioner verdict kept, refusals."""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

import evkit
from evkit.partitioning.hashes import partition_keys
from evkit.schemas.store import StoredSchema, write_schema
from evkit.share.mask import MARKER, fingerprint
from evkit.store.records import records_table
from evkit.store.writer import write_records
from share_cli import run_cli
from support.dumping import dataset_rows, produce

KEY = b"k" * 32
BASE_MS = 1_764_000_000_000
RULES = {
    "defaults": {"key": "hash", "header:user-*": "hash", "header:trace*": "keep"},
    "topics": {"bets": {"otherwise": "redact", "$.id": "keep", "$.**.email": "hash", "$.card": "redact_same_size",
                        "$.items[*].sku": "drop", "header:secret": "drop"},
               "notes": {"value": "redact_same_size"}},
}


def h(data: bytes) -> bytes:
    return hmac.new(KEY, data, hashlib.sha256).hexdigest()[:32].encode()


def raw_rows() -> list[dict]:
    return [
        {"topic": "bets", "partition": 0, "offset": 0, "timestamp": BASE_MS, "key": b"user-17",
         "value": json.dumps({"id": "e1", "user": {"email": "alice@example.org", "name": "Alice Liddell"},
                              "card": "4111-1111", "amount": 12.5, "items": [{"sku": "SKU-981", "n": 2}]}).encode(),
         "headers": [("user-id", b"17"), ("traceparent", b"00-aa-bb-01"), ("secret", b"hunter2"), ("other", b"x")]},
        {"topic": "bets", "partition": 0, "offset": 1, "timestamp": BASE_MS + 1, "key": None, "value": b"",
         "headers": [("user-id", b""), ("user-id", None)]},
        {"topic": "bets", "partition": 1, "offset": 0, "timestamp": BASE_MS + 2, "key": b"", "value": b"not json",
         "headers": None},
        {"topic": "notes", "partition": 0, "offset": 5, "timestamp": BASE_MS + 3, "key": b"user-17",
         "value": b"free text about Alice", "headers": None},
    ]


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    root = tmp_path_factory.mktemp("mask")
    write_records(root / "raw", records_table(raw_rows()), partition_counts={"bets": 3, "notes": 1})
    manifests = evkit.mask(root / "raw", out=root / "masked", rules=RULES, key=KEY, quiet=True)
    return root, manifests


def test_rules_exactly(masked):
    root, manifests = masked
    rows = [(r["topic"], r["partition"], r["offset"], r["key"], r["value"], r["headers"])
            for r in dataset_rows(root / "masked")]
    email, name = h(b"alice@example.org").decode(), MARKER
    assert rows == [
        ("bets", 0, 0, h(b"user-17"),
         json.dumps({"id": "e1", "user": {"email": email, "name": name}, "card": "*" * 9, "amount": MARKER,
                     "items": [{"n": MARKER}]}, separators=(",", ":")).encode(),
         [{"key": "user-id", "value": h(b"17")}, {"key": "traceparent", "value": b"00-aa-bb-01"},
          {"key": "other", "value": MARKER.encode()}]),
        ("bets", 0, 1, None, b"", [{"key": "user-id", "value": b""}, {"key": "user-id", "value": None}]),
        ("bets", 1, 0, b"", MARKER.encode(), []),
        ("notes", 0, 5, h(b"user-17"), b"*" * 21, []),
    ]
    assert [m.masking["key_fingerprint"] for m in manifests] == [fingerprint(KEY)]
    assert manifests[0].masking["rules"] == RULES
    assert manifests[0].masking["placement"]["modulus"] == 6  # lcm(1, 2, 3): 3 partitions at most
    with evkit.open(root / "masked") as ds:  # it verifies like any dataset, and says it is masked
        assert repr(ds) == (f"<evkit.Analysis: {root / 'masked'} (cluster synthetic, masked with key {fingerprint(KEY)}): "
                            "2 topics, 3 partitions, 4 records>")
        assert ds.masking[str(root / "masked")]["source"] == "evkit mask"


def zstd_frames(data: bytes) -> list[bytes]:
    """Every zstd frame in `data` decompressed (Parquet pages are compressed one frame each)."""
    frames = []
    for match in re.finditer(re.escape(b"\x28\xb5\x2f\xfd"), data):
        at = match.end()
        descriptor = data[at]
        single, size_flag, dict_flag = descriptor >> 5 & 1, descriptor >> 6, descriptor & 3
        at += 1 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
        width = (1 if single else 0, 2, 4, 8)[size_flag]
        if width == 0:
            continue  # not a frame pyarrow wrote (no content size): a match inside other bytes
        size = int.from_bytes(data[at:at + width], "little") + (256 if width == 2 else 0)
        try:  # exactly the frame's content: reading on would run into the bytes after the frame
            frames.append(pa.CompressedInputStream(pa.BufferReader(data[match.start():]), "zstd").read(size))
        except OSError:
            continue  # the magic bytes appeared inside data that is no frame
    return frames


def test_check_says_the_dataset_is_masked(masked):
    root, _ = masked
    report = evkit.check(root / "masked", checks="duplicate", quiet=True)
    assert report.to_text().splitlines()[0] == (f"masked: {root / 'masked'}, key {fingerprint(KEY)}: "
                                                "findings show masked keys and values")
    assert report.summary["masked"] == [{"dataset": str(root / "masked"), "key_fingerprint": fingerprint(KEY)}]
    raw = evkit.check(root / "raw", checks="duplicate", quiet=True)
    assert "masked" not in raw.summary and not raw.to_text().startswith("masked")


def assert_nowhere(directory, secrets: list[bytes], kept: list[bytes]) -> None:
    """No secret in any byte of any file under `directory`, nor inside any zstd page; each of `kept` is
    inside some page (the scan does see into the compressed pages)."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    contents = [p.read_bytes() for p in files]
    inflated = [frame for data in contents for frame in zstd_frames(data)]
    assert len(inflated) >= 2 * len(kept)
    assert all(any(value in frame for frame in inflated) for value in kept), kept
    for secret in secrets:
        for path, data in zip(files, contents):
            assert secret not in data, (secret, path)
        assert not any(secret in frame for frame in inflated), secret


def mask_topics(root: Path, values: list[tuple[str, bytes | None]], schemas: list[StoredSchema], rules: dict) -> Path:
    """Per topic of `values` (topic, value): `raw-<topic>`, its values (key user-17, partition 0) with
    every schema stored, and `masked-<topic>`, masked with KEY; returns root."""
    for topic in dict.fromkeys(t for t, _ in values):
        write_topic(root / f"raw-{topic}", topic, [value for t, value in values if t == topic], schemas)
        evkit.mask(root / f"raw-{topic}", out=root / f"masked-{topic}", rules=rules, key=KEY, quiet=True)
    return root


def write_topic(root: Path, topic: str, values: list[bytes | None], schemas: list[StoredSchema]) -> None:
    rows = [{"topic": topic, "partition": 0, "offset": n, "timestamp": BASE_MS + n,
             "key": b"user-17", "value": value, "headers": None} for n, value in enumerate(values)]
    write_records(root, records_table(rows))
    for schema in schemas:
        write_schema(root, schema)


def checks_alike(raw, masked, config: dict) -> list[str]:
    """Assert that duplicate and schema_drift find on the masked dataset what they find on the raw one;
    the checks that found something."""
    def findings(dataset) -> list[tuple]:
        report = evkit.check(dataset, config=config, checks="duplicate,schema_drift", quiet=True)
        return [(f["check"], f["topic"], f["offsets"], f["facts"].get("changes")) for f in report.findings]

    found = findings(raw)
    assert findings(masked) == found
    return sorted({f[0] for f in found})


def decode_failures(dataset, config: dict, topic: str) -> list[tuple]:
    """(offset, schema_id, reason) of the topic's values that did not decode."""
    with evkit.open(dataset, config=config, quiet=True) as ds:
        return ds.sql(f"SELECT \"offset\", schema_id, reason FROM decode_failures WHERE topic = '{topic}' "
                      "ORDER BY \"offset\"").fetchall()


def mask_cli(dataset, out, topic: str, rules: dict[str, str], directory) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `evkit mask` with one topic's rules and KEY as files in `directory`."""
    (directory / "rules.toml").write_text(f"[topics.{topic}]\n" + "".join(f'"{t}" = "{a}"\n' for t, a in rules.items()))
    (directory / "mask.key").write_bytes(KEY)
    return run_cli("mask", str(dataset), "--out", str(out), "--rules", str(directory / "rules.toml"),
                   "--key-file", str(directory / "mask.key"), "-q")


def test_no_raw_value_survives_in_any_byte(masked):
    root, _ = masked
    assert_nowhere(root / "masked", [b"user-17", b"alice@example.org", b"Alice Liddell", b"4111-1111", b"SKU-981",
                                     b"hunter2", b"not json", b"free text about Alice", b"12.5"],
                   kept=[b"00-aa-bb-01", b"traceparent", b"e1", b"bets"])


def test_partitioner_verdict_survives_hashed_keys(tmp_path):
    """Two producers, one Java (murmur2) and one Sarama (FNV-1a), on a 6-partition topic: the
    partitioner check's findings on the masked dataset equal those on the raw one."""
    keys = [f"account-{i}".encode() for i in range(60)]
    rows, offsets = [], [0] * 6
    for producer, partitioner in (("java", "java_murmur2"), ("go", "sarama_hash")):
        for key, partition in zip(keys, partition_keys(keys, 6, partitioner).tolist()):
            rows.append({"topic": "accounts", "partition": partition, "offset": offsets[partition],
                         "timestamp": BASE_MS + len(rows), "key": key, "value": b"{}",
                         "headers": [("producer", producer.encode())]})
            offsets[partition] += 1
    write_records(tmp_path / "raw", records_table(rows), partition_counts={"accounts": 6})
    evkit.mask(tmp_path / "raw", out=tmp_path / "masked", rules={"defaults": {"key": "hash"}}, key=KEY, quiet=True)

    def findings(path):
        with evkit.open(path, quiet=True) as ds:
            return sorted(ds.findings(["partitioner", "partition_count_change"]).fetchall(), key=repr)

    raw, masked_findings = findings(tmp_path / "raw"), findings(tmp_path / "masked")
    assert len(raw) == 2 and {r[0] for r in raw} == {"partitioner"}
    assert masked_findings == raw
    assert "placed by java_murmur2, confidence 100.0%" in " ".join(r[-1] for r in raw)


def test_refusals(masked, tmp_path):
    root, _ = masked
    raw, rules = root / "raw", tmp_path / "rules.toml"
    key = tmp_path / "mask.key"
    key.write_bytes(KEY + b"\n")
    short = tmp_path / "short.key"
    short.write_bytes(b"abc")
    cases = [
        ('[defaults]\nkey = "scramble"\n', key, "mask rules [defaults].key: unknown action 'scramble'; actions are "
                                                "keep, hash, redact, redact_same_size, drop"),
        ('[defaults]\nbody = "hash"\n', key, "mask rules [defaults]: unknown target 'body'; targets are key, value, "
                                             "header:<name>, $.<json.path> and otherwise"),
        ('[mask]\nkey = "hash"\n', key, "mask rules: unknown section(s) mask; use [defaults] and [topics.<name>]"),
        ('[defaults\n', key, None),
        ('[defaults]\nkey = "hash"\n', None, "the mask rules hash values: give the HMAC key (--key-file PATH, or "
                                            "key=... in Python)"),
        ('[defaults]\nkey = "hash"\n', short, "the mask key has 3 bytes; use at least 16 random bytes "
                                             "(e.g. `openssl rand -hex 32 > mask.key`)"),
    ]
    for text, key_file, message in cases:
        rules.write_text(text)
        code, out, err = run_cli("mask", str(raw), "--out", str(tmp_path / "out"), "--rules", str(rules), "-q",
                                 *(["--key-file", str(key_file)] if key_file else []))
        assert code == 2 and out == "" and err.count("\n") == 1, (text, err)
        if message is not None:
            assert err == f"evkit: error: {message}\n"
        else:
            assert err.startswith(f"evkit: error: mask rules {rules}: not valid TOML (")
        assert not (tmp_path / "out").exists()
    rules.write_text('[defaults]\nkey = "hash"\n')
    code, out, err = run_cli("mask", str(root / "masked"), "--out", str(tmp_path / "again"), "--rules", str(rules),
                             "--key-file", str(key), "-q")
    assert (code, err) == (2, f"evkit: error: {root / 'masked'} is already masked; mask the original dataset\n")
    code, out, err = run_cli("mask", str(raw), "--out", str(root / "masked"), "--rules", str(rules),
                             "--key-file", str(key), "-q")
    assert (code, err) == (2, f"evkit: error: --out {root / 'masked'} exists and is not empty; mask writes a new dataset\n")
    code, out, err = run_cli("mask", str(raw), "--out", str(tmp_path / "ok"), "--rules", str(rules), "--key-file", str(key))
    assert (code, out) == (0, f"masked 4 records in 1 run(s) to {tmp_path / 'ok'}\n")


def test_dump_mask_writes_what_mask_writes(bootstrap, make_topic, tmp_path):
    """Masking at dump time gives the same records as masking the raw dump afterwards."""
    topic = make_topic(partitions=2)
    produce(bootstrap, topic, [{"key": f"user-{i % 3}".encode(), "partition": i % 2, "timestamp": BASE_MS + i,
                                "value": json.dumps({"id": f"e{i}", "email": f"u{i}@example.org"}).encode()}
                               for i in range(10)])
    rules = {"defaults": {"key": "hash", "$.email": "hash"}}
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "raw", topics=[topic], quiet=True)
    evkit.mask(tmp_path / "raw", out=tmp_path / "masked", rules=rules, key=KEY, quiet=True)
    manifest = evkit.dump(bootstrap=bootstrap, out=tmp_path / "at-dump", topics=[topic], mask=rules, mask_key=KEY,
                          quiet=True)
    assert manifest.masking["key_fingerprint"] == fingerprint(KEY) and manifest.masking["source"] == "evkit dump"
    columns = ["partition", "offset", "timestamp", "key", "value", "headers", "key_placement"]
    assert dataset_rows(tmp_path / "at-dump", columns) == dataset_rows(tmp_path / "masked", columns)
    assert b"user-1" not in b"".join(p.read_bytes() for p in (tmp_path / "at-dump").rglob("*.json"))
    code, out, err = run_cli("dump", "-b", bootstrap, "-o", str(tmp_path / "at-dump"), "-t", topic, "-q")
    assert (code, err) == (2, f"evkit: error: --out {tmp_path / 'at-dump'} holds runs masked differently; "
                              "dump into another directory\n")
