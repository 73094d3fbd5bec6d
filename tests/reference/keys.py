"""The partition-hash checks (split_key, partitioner, key_encoding, partition_count_change) as plain
loops over records, written from docs/partitioners.md ("How the checks decide"); no evkit.

Each function returns the set of `Finding`s evkit emits for the check. The offsets of a finding are
in the order evkit's SQL builds them: by partition, then offset (split_key, partition_count_change);
by encoding name, then partition, then offset (key_encoding).

Where the docs leave a choice open and the SQL leaves it to chance (ties in a producer's best
candidate; two keys of one logical value read with the same encoding), the model decides by name /
bytes; see the comments at those places.
"""
from __future__ import annotations

import json
import re
from collections import defaultdict
from fractions import Fraction
from functools import lru_cache

from . import hashes
from .stream import Finding, Record, Stream

# The candidates: partitioners that place every non-null key alike are one (librdkafka_fnv1a and
# sarama_hash); candidate name -> the partitioner whose placement hash it uses.
CANDIDATES = {
    "java_murmur2": "java_murmur2",
    "kafkajs_legacy": "kafkajs_legacy",
    "librdkafka_consistent": "librdkafka_consistent",
    "sarama_hash/librdkafka_fnv1a": "sarama_hash",
    "sarama_reference": "sarama_reference",
}
NAMES = sorted(CANDIDATES)


@lru_cache(maxsize=1 << 16)
def placement_hash(name: str, key: bytes) -> int | None:
    """hashes.placement_hash, remembered: the checks ask for the same keys many times."""
    return hashes.placement_hash(name, key)


# --- shared ------------------------------------------------------------------------------------

def share_threshold(value) -> Fraction | float:
    """A check parameter as evkit's SQL reads it: `SET VARIABLE x = repr(value)`, where a plain decimal
    literal is an exact DECIMAL and a literal in scientific notation a DOUBLE."""
    text = repr(value)
    if isinstance(value, float) and any(c in text for c in "eEn"):
        return float(value)
    return Fraction(text)


def at_least(count: int, share, total: int) -> bool:
    """count >= share * total, computed as DuckDB does it for the parameter's literal."""
    threshold = share_threshold(share)
    if isinstance(threshold, float):
        return float(count) >= threshold * float(total)
    return count >= threshold * total


def partition_counts(stream: Stream) -> dict[tuple[str, str], int]:
    """(cluster, topic) -> partition count: the one the dump recorded, else highest dumped partition + 1.
    Only topics with dumped ranges (a manifest) count, as in the SQL's manifests-based view."""
    recorded = {(t.cluster_id, t.topic): t.partition_count for t in stream.topics if t.partition_count is not None}
    counts: dict[tuple[str, str], int] = {}
    for r in stream.ranges:
        where = (r.cluster_id, r.topic)
        counts[where] = max(counts.get(where, 0), r.partition + 1)
    return {where: recorded.get(where, highest) for where, highest in counts.items()}


def by_partition_offset(records) -> tuple[int, ...]:
    return tuple(r.offset for r in sorted(records, key=lambda r: (r.partition, r.offset)))


# --- split_key ---------------------------------------------------------------------------------

def split_key(stream: Stream) -> set[Finding]:
    """A non-null key (the empty key included) in more than one partition of a topic: one finding per
    topic and key with all its records' offsets, partition by partition."""
    keys: dict[tuple[str, str, bytes], list[Record]] = defaultdict(list)
    for r in stream.records:
        if r.key is not None:
            keys[(r.cluster_id, r.topic, r.key)].append(r)
    return {Finding("split_key", "error", topic, None, key, by_partition_offset(records))
            for (_, topic, key), records in keys.items() if len({r.partition for r in records}) > 1}


# --- partitioner ------------------------------------------------------------------------------

def producer_tag(record: Record, header: str) -> str | None:
    """The value of the last header named `header`: UTF-8 text, else 0x + hex; None without one.
    A last header of that name with a null value leaves the record untagged, as the SQL reads it."""
    values = [value for name, value in record.headers if name == header]
    if not values or values[-1] is None:
        return None
    try:
        return values[-1].decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + values[-1].hex()


def fits(candidate: str, record: Record, count: int) -> bool:
    return placement_hash(CANDIDATES[candidate], record.key) % count == record.partition


class Producer:
    """One producer of one topic: its keyed records and how many of them each candidate explains."""

    def __init__(self, cluster_id: str, topic: str, name: str, count: int, min_fit):
        self.cluster_id, self.topic, self.name, self.count = cluster_id, topic, name, count
        self.records: list[Record] = []
        self.min_fit = min_fit

    def fitted(self, candidate: str) -> int:
        return sum(fits(candidate, r, self.count) for r in self.records)

    def consistent(self) -> list[str]:
        return [c for c in NAMES if at_least(self.fitted(c), self.min_fit, len(self.records))]

    def best(self) -> str:
        """The candidate that explains most records. On a tie the docs say nothing and the SQL's
        arg_max picks any; the model takes the first by name (the rule the untagged ranking uses)."""
        return min(NAMES, key=lambda c: (-self.fitted(c), c))


def producers(stream: Stream) -> list[Producer]:
    """Every producer of every topic, with its keyed records (non-null, non-empty keys)."""
    counts = partition_counts(stream)
    header = stream.param("partitioner", "producer_header", "producer")
    min_fit = stream.param("partitioner", "min_fit", 0.99)
    topics: dict[tuple[str, str], list[Record]] = defaultdict(list)
    for r in stream.records:
        if r.key is not None and len(r.key) > 0 and (r.cluster_id, r.topic) in counts:
            topics[(r.cluster_id, r.topic)].append(r)
    found: list[Producer] = []
    for (cluster_id, topic), records in topics.items():
        count = counts[(cluster_id, topic)]
        tags = {id(r): producer_tag(r, header) for r in records}
        untagged = [r for r in records if tags[id(r)] is None]
        # Inferred producers: candidates ranked by untagged records explained, ties by name; each
        # untagged record goes to the first candidate that explains it.
        ranking = sorted(NAMES, key=lambda c: (-sum(fits(c, r, count) for r in untagged), c))
        by_name: dict[str, Producer] = {}
        for r in records:
            name = tags[id(r)]
            if name is None:
                name = "(no header) " + next((c for c in ranking if fits(c, r, count)), "unexplained")
            if name not in by_name:
                by_name[name] = Producer(cluster_id, topic, name, count, min_fit)
            by_name[name].records.append(r)
        found.extend(by_name.values())
    return found


def partitioner(stream: Stream) -> set[Finding]:
    """A topic whose producers do not all have one consistent candidate in common: a warning per
    producer (key None, no offsets), so one Finding tuple per topic."""
    topics: dict[tuple[str, str], list[Producer]] = defaultdict(list)
    for p in producers(stream):
        topics[(p.cluster_id, p.topic)].append(p)
    findings = set()
    for (_, topic), members in topics.items():
        shared = set(NAMES)
        for p in members:
            shared &= set(p.consistent())
        if not shared:
            findings.add(Finding("partitioner", "warning", topic, None, None, ()))
    return findings


# --- partition_count_change ---------------------------------------------------------------------

def partition_count_change(stream: Stream) -> set[Finding]:
    """Per producer: the records its best candidate does not explain at today's count n; when at
    least min_records of them exist and an earlier count m < n explains at least min_fit of them
    (most explained, ties to the larger m), one finding per key with records placed for m."""
    min_records = stream.param("partition_count_change", "min_records", 20)
    findings = set()
    for p in producers(stream):
        best = p.best()
        name = CANDIDATES[best]
        unplaced = [r for r in p.records if not fits(best, r, p.count)]
        if len(unplaced) < min_records:
            continue
        options = []
        for m in range(1, p.count):
            fitted = sum(placement_hash(name, r.key) % m == r.partition for r in unplaced)
            if at_least(fitted, p.min_fit, len(unplaced)):
                options.append((fitted, m))
        if not options:
            continue
        _, earlier = max(options)
        keys: dict[bytes, list[Record]] = defaultdict(list)
        for r in unplaced:
            if placement_hash(name, r.key) % earlier == r.partition:
                keys[r.key].append(r)
        for key, records in keys.items():
            findings.add(Finding("partition_count_change", "info", p.topic, None, key, by_partition_offset(records)))
    return findings


# --- key_encoding -------------------------------------------------------------------------------

PRINTABLE_ASCII = re.compile(r"[ -~]+")
DECIMAL = re.compile(r"(-?)([0-9]+)")
JSON_INT_MIN, JSON_INT_END = -(2**63), 2**64  # DuckDB's JSON integers: BIGINT or UBIGINT, else DOUBLE


def canonical(text: str) -> str:
    """Decimal integer text as the integer's canonical decimal ("042" and "-0" -> "42", "0"), at any
    length as the docs say (evkit's SQL normalises only up to 38 digits). A leading "+" is not part
    of a decimal integer here (nor in the SQL)."""
    match = DECIMAL.fullmatch(text)
    if match is None:
        return text
    digits = match.group(2).lstrip("0")
    return match.group(1) + digits if digits else "0"


def utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def json_scalar(text: str | None) -> str | int | None:
    """A JSON document that is a string or an integer (64-bit signed or unsigned), else None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, str):
        return value if utf8_encodable(value) else None  # a lone surrogate escape is not valid JSON text
    if isinstance(value, int) and not isinstance(value, bool) and JSON_INT_MIN <= value < JSON_INT_END:
        return value
    return None


def utf8_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def avro_long(data: bytes, start: int) -> tuple[int, int] | None:
    """(zigzag-decoded value, bytes used) of the Avro long at data[start:], None where the varint does
    not end inside data or is not a 64-bit long (more than 10 bytes, or a value beyond 64 bits)."""
    raw = 0
    for i in range(start, len(data)):
        raw |= (data[i] & 0x7F) << (7 * (i - start))
        if data[i] < 0x80:
            used = i - start + 1
            if used > 10 or raw >= 2**64:
                return None
            return (raw >> 1) ^ -(raw & 1), used
    return None


def read_key(key: bytes) -> tuple[str, str] | None:
    """(encoding, logical value) of a non-empty key, None where no reading applies."""
    text = utf8(key)
    size = len(key)
    if size >= 6 and key[0] == 0:  # magic byte 0 and a 4-byte schema id: a Schema Registry framed key
        varint = avro_long(key, 5)
        if varint is not None and varint[1] == size - 5:
            return "sr_avro_long", str(varint[0])
        if varint is not None and varint[0] == size - 5 - varint[1]:
            string = utf8(key[5 + varint[1]:])
            if string is not None:
                return "sr_avro_string", canonical(string)
        document = json_scalar(utf8(key[5:]))
        if document is not None:
            return "sr_json", canonical(str(document))
    if text is not None and text.startswith('"'):
        document = json_scalar(text)
        if isinstance(document, str):
            return "json_string", canonical(document)
    if size in (4, 8) and not (text is not None and PRINTABLE_ASCII.fullmatch(text)):
        return ("int32_be" if size == 4 else "int64_be"), str(int.from_bytes(key, "big", signed=True))
    if text is not None:
        return "utf8", canonical(text)
    return None


def key_encoding(stream: Stream) -> set[Finding]:
    """Distinct non-empty keys of a topic read as the same logical value: one finding per topic and
    logical value with at least two keys. `key` is the key of the first encoding by name; offsets
    are each key's (by partition, then offset), the keys in encoding order."""
    keys: dict[tuple[str, str, bytes], list[Record]] = defaultdict(list)
    for r in stream.records:
        if r.key is not None and len(r.key) > 0:
            keys[(r.cluster_id, r.topic, r.key)].append(r)
    logical: dict[tuple[str, str, str], list[tuple[str, bytes]]] = defaultdict(list)
    for (cluster_id, topic, key) in keys:
        reading = read_key(key)
        if reading is not None:
            encoding, value = reading
            logical[(cluster_id, topic, value)].append((encoding, key))
    findings = set()
    for (cluster_id, topic, _), readings in logical.items():
        if len(readings) < 2:
            continue
        # Two keys with the same encoding (e.g. utf8 "42" and "042"): the SQL orders them by encoding
        # only, so its choice among them is arbitrary; the model orders them by their bytes.
        readings.sort()
        offsets = tuple(o for _, key in readings for o in by_partition_offset(keys[(cluster_id, topic, key)]))
        findings.add(Finding("key_encoding", "warning", topic, None, readings[0][1], offsets))
    return findings


CHECKS = {
    "split_key": split_key,
    "partitioner": partitioner,
    "key_encoding": key_encoding,
    "partition_count_change": partition_count_change,
}
