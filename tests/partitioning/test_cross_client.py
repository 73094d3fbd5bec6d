"""Real clients, real broker: Java (kafka-clients), Node (kafkajs default and legacy partitioners),
Go (Sarama's default hash partitioner) and librdkafka (confluent-kafka: consistent_random,
murmur2_random) write the same 10,000 keys into 12-partition topics; `evkit dump` + `evkit check`
must find every split key, name each producer's partitioner, and report nothing where the producers
agree. Every record's partition is also compared with evkit.partitioning.hashes' prediction.

The producer programs live in tests/clients/; session fixtures build them (cached, git-ignored):
javac against kafka/target/lib, `npm ci` for kafkajs, `go build` for Sarama.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from confluent_kafka import Producer

import evkit
import evkit.partitioning.hashes
from evkit.partitioning.hashes import KeyColumn, kafkajs_legacy_murmur2, partition_keys, placement_hashes
from evkit.partitioning.hashes import murmur2 as column_murmur2

pytestmark = pytest.mark.broker

from support import REPO
CLIENTS = REPO / "tests" / "clients"
PARTITIONS = 12
HASH_CHECKS = "split_key,partitioner,key_encoding,partition_count_change"

# header value -> (how it places keys, the partitioner evkit must name)
MIXED = {
    "java": "java_murmur2",
    "kafkajs-default": "java_murmur2",
    "kafkajs-legacy": "kafkajs_legacy",
    "sarama": "sarama_hash",
    "librdkafka-consistent-random": "librdkafka_consistent",
    "librdkafka-murmur2-random": "java_murmur2",
}
AGREEING = ("java", "kafkajs-default", "librdkafka-murmur2-random")
REPORTED_NAME = {"sarama_hash": "sarama_hash/librdkafka_fnv1a"}


def run(command: list, *, cwd: Path | None = None, timeout: float = 600) -> str:
    try:
        done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        pytest.fail(f"{command[0]} is not installed: the cross-client test needs a JDK 17+, Node 18+ with npm and "
                    "Go 1.26 (see README prerequisites)", pytrace=False)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr[-4000:]}", pytrace=False)
    return done.stdout


def stale(target: Path, *sources: Path) -> bool:
    return not target.exists() or target.stat().st_mtime < max(source.stat().st_mtime for source in sources)


@pytest.fixture(scope="session")
def java_producer() -> list[str]:
    source, build = CLIENTS / "java" / "Producer.java", CLIENTS / "java" / "build"
    libraries = REPO / "kafka" / "target" / "lib" / "*"
    if stale(build / "Producer.class", source):
        run(["javac", "-d", build, "-cp", libraries, source])
    return ["java", "-cp", f"{build}{os.pathsep}{libraries}", "Producer"]


@pytest.fixture(scope="session")
def node_client() -> Path:
    directory = CLIENTS / "node"
    if stale(directory / "node_modules" / ".package-lock.json", directory / "package-lock.json"):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=directory)
    return directory


@pytest.fixture(scope="session")
def go_producer() -> list[str]:
    directory = CLIENTS / "go"
    binary = directory / "producer"
    if stale(binary, directory / "main.go", directory / "go.mod", directory / "go.sum"):
        run(["go", "build", "-mod=readonly", "-o", "producer", "."], cwd=directory)
    return [str(binary)]


def test_kafkajs_legacy_hash_equals_kafkajs_own_code(node_client, native_kernel, monkeypatch):
    rng = random.Random(357)
    keys = [rng.randbytes(rng.randrange(0, 70)) for _ in range(5000)] + [str(i).encode() for i in range(5000)]
    done = subprocess.run(["node", str(node_client / "hashes.js")], input="\n".join(k.hex() or "-" for k in keys),
                          capture_output=True, text=True, check=True, timeout=120)
    expected = np.array([line.split() for line in done.stdout.split()], dtype=np.int64).reshape(-1, 2)
    column = KeyColumn(keys)
    assert column.unsort(column_murmur2(column)).view(np.int32).tolist() == expected[:, 0].tolist()
    assert column.unsort(kafkajs_legacy_murmur2(column)).view(np.int32).tolist() == expected[:, 1].tolist()
    # The C kernel and the NumPy fallback place them alike (Java's sign-bit mask on both hashes).
    for native in (native_kernel, None):
        monkeypatch.setattr(evkit.partitioning.hashes, "_native", native)
        placed = placement_hashes(keys, ("java_murmur2", "kafkajs_legacy"))
        assert placed["java_murmur2"].tolist() == (expected[:, 0] & 0x7FFFFFFF).tolist()
        assert placed["kafkajs_legacy"].tolist() == (expected[:, 1] & 0x7FFFFFFF).tolist()


def the_keys() -> list[str]:
    prefixes = ["", "user-", "order:2026-11-27/", "a-little-bit-longer-prefix/", "ключ-"]
    return [f"{prefixes[i % len(prefixes)]}{i}" for i in range(10_000)]


def produce_librdkafka(bootstrap: str, topic: str, keys: list[str], name: str, partitioner: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": partitioner, "linger.ms": 5})
    for key in keys:
        producer.produce(topic, key=key.encode(), value=f"{name}:{key}".encode(), headers=[("producer", name.encode())])
        producer.poll(0)
    assert producer.flush(60) == 0


def produce_all(bootstrap: str, topic: str, names, keys_file: Path, keys: list[str], programs: dict) -> None:
    """Start every external producer at once, write the librdkafka ones meanwhile, wait for all."""
    external = {
        "java": programs["java"] + [bootstrap, topic, keys_file, "java"],
        "kafkajs-default": ["node", programs["node"] / "producer.js", bootstrap, topic, keys_file, "kafkajs-default", "default"],
        "kafkajs-legacy": ["node", programs["node"] / "producer.js", bootstrap, topic, keys_file, "kafkajs-legacy", "legacy"],
        "sarama": programs["go"] + [bootstrap, topic, keys_file, "sarama"],
    }
    started = {name: subprocess.Popen([str(part) for part in external[name]], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True)
               for name in names if name in external}
    for name in names:
        if name.startswith("librdkafka-"):
            produce_librdkafka(bootstrap, topic, keys, name, name.removeprefix("librdkafka-").replace("-", "_"))
    for name, process in started.items():
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name} producer failed: {stderr[-4000:]}"


def evkit_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evkit.cli", *argv], capture_output=True, text=True, timeout=600)


def test_real_clients_split_keys_and_are_attributed(bootstrap, make_topic, tmp_path, java_producer, node_client,
                                                    go_producer):
    keys = the_keys()
    keys_file = tmp_path / "keys.txt"
    keys_file.write_text("\n".join(keys) + "\n", encoding="utf-8")
    mixed, agreeing = make_topic(partitions=PARTITIONS, prefix="mixed"), make_topic(partitions=PARTITIONS, prefix="agreeing")
    programs = {"java": java_producer, "node": node_client, "go": go_producer}
    produce_all(bootstrap, mixed, MIXED, keys_file, keys, programs)
    produce_all(bootstrap, agreeing, AGREEING, keys_file, keys, programs)

    out = tmp_path / "dump"
    dumped = evkit_cli("dump", "--bootstrap", bootstrap, "--out", str(out), "--topic", mixed, "--topic", agreeing, "--quiet")
    assert dumped.returncode == 0, dumped.stderr

    # Every record sits exactly where evkit.partitioning.hashes says its client puts it.
    with evkit.open(out, quiet=True) as ds:
        rows = ds.sql("SELECT topic, decode(list_filter(headers, lambda h: h.key = 'producer')[1].value) AS producer, "
                      "key, partition FROM records ORDER BY topic, producer, \"offset\"").fetchall()
    by_producer: dict[tuple[str, str], list[tuple[bytes, int]]] = {}
    for topic, producer, key, partition in rows:
        by_producer.setdefault((topic, producer), []).append((key, partition))
    assert {name: len(records) for (topic, name), records in by_producer.items() if topic == mixed} == dict.fromkeys(MIXED, 10_000)
    assert {name: len(records) for (topic, name), records in by_producer.items() if topic == agreeing} == dict.fromkeys(AGREEING, 10_000)
    for (topic, name), records in by_producer.items():
        predicted = partition_keys([key for key, _ in records], PARTITIONS, MIXED[name])
        assert predicted.tolist() == [partition for _, partition in records], f"{name} on {topic}"

    checked = evkit_cli("check", str(out), "--checks", HASH_CHECKS, "--format", "json", "--quiet")
    assert checked.returncode == 1, checked.stderr
    findings = [json.loads(line) for line in checked.stdout.splitlines()[:-1]]  # then the summary
    assert [f for f in findings if f["topic"] == agreeing] == []

    placements: dict[bytes, set[int]] = {}
    for (topic, _), records in by_producer.items():
        for key, partition in records:
            if topic == mixed:
                placements.setdefault(key, set()).add(partition)
    split = {key.decode() for key, partitions in placements.items() if len(partitions) > 1}
    assert len(split) > 9_900
    split_findings = [f for f in findings if f["check"] == "split_key"]
    assert sorted(f["key"] for f in split_findings) == sorted(split)
    assert {f["topic"] for f in split_findings} == {mixed}

    attributed = {}
    for finding in (f for f in findings if f["check"] == "partitioner"):
        match = re.match(r"producer '([^']+)' wrote 10000 keyed record\(s\) with 10000 distinct key\(s\) to \S+: "
                         r"placed by (\S+), confidence 100.0% ", finding["detail"])
        assert match, finding["detail"]
        attributed[match.group(1)] = match.group(2)
    assert attributed == {name: REPORTED_NAME.get(p, p) for name, p in MIXED.items()}
    assert {f["check"] for f in findings} == {"split_key", "partitioner"}

