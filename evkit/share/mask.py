"""Masking (docs/sharing.md): per-topic rules that keep, hash (HMAC-SHA256), redact or drop a record's
key, headers, value and JSON fields, applied to record tables before anything is written, at dump
time (`evkit dump --mask`) or to an existing dataset (`evkit mask`).

Hashing is deterministic under one key, so equal values stay equal (joins, duplicates, flows) and
the same id hashes alike in a key, a header and a JSON string. For hashed keys each record also
carries `key_placement`: the placement hashes of its raw key (reduced modulo lcm(1..N), N the
largest partition count), so the partition-hash checks still judge the raw key
(evkit/partitioning/checks.py). This module imports only `store` and `partitioning`: the dumper
uses it.
"""
from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import __version__
from .._progress import Progress
from .._text import utc_now
from ..errors import DatasetError, UsageError
from ..partitioning.hashes import CANDIDATES, placement_hashes
from ..store.files import write_failure
from ..store.layout import read_identity, write_identity
from ..store.manifest import Manifest, PartitionEntry, masking_identity, masking_of, read_manifests, write_manifest
from ..store.records import HEADER_TYPE, RECORD_SCHEMA, record_table

ACTIONS = ("keep", "hash", "redact", "redact_same_size", "drop")
MARKER = "[redacted]"
HASH_HEX = 32  # 128 bits of the HMAC, as hex text: collisions are out of reach, the text stays short
MIN_KEY_BYTES = 16
MEMBER_PLANS = 10_000  # sets of JSON member names remembered per topic (Masker.walk_kept)
PLACEMENT_FIELDS = tuple(CANDIDATES)  # the partitioners the partition-hash checks compare
PLACEMENT_TYPE = pa.struct([pa.field(name, pa.int64()) for name in PLACEMENT_FIELDS])
MASKED_SCHEMA = RECORD_SCHEMA.append(pa.field("key_placement", PLACEMENT_TYPE))
_TARGET = re.compile(r"^(key|value|otherwise|header:.+|\$.*)$")
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)  # what json.dumps(..., separators, ensure_ascii) builds per call


@dataclass(frozen=True)
class TopicRules:
    """One topic's rules: what happens to the key, the value as a whole, each header (name pattern
    -> action) and each JSON path (pattern -> action), and to anything no rule names (`otherwise`)."""

    otherwise: str = "keep"
    key: str | None = None
    value: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    paths: tuple[tuple[str, str], ...] = ()
    topic: str = ""
    _actions: dict = field(default_factory=dict, compare=False, repr=False)  # memo: names and paths repeat per record

    def header_action(self, name: str) -> str:
        if ("header", name) not in self._actions:
            exact = next((a for p, a in self.headers if p == name), None)
            self._actions["header", name] = exact or next(
                (a for p, a in self.headers if fnmatch.fnmatchcase(name, p)), self.otherwise)
        return self._actions["header", name]

    def path_action(self, path: str) -> str | None:
        if ("path", path) not in self._actions:
            exact = next((a for p, a in self.paths if p == path), None)
            self._actions["path", path] = exact or next((a for p, a in self.paths if _path_matches(p, path)), None)
        return self._actions["path", path]

    def member(self, path: str, name: str) -> tuple[str, str | None, bool]:
        """A JSON member's (path, action, whether a rule may name a path below it); `name` "[*]" for
        array items. Memoised per path and name."""
        if ("member", path, name) not in self._actions:
            child = f"{path}{name}" if name == "[*]" else f"{path}.{name}"
            self._actions["member", path, name] = (child, self.path_action(child), self._below(child))
        return self._actions["member", path, name]

    def members(self, path: str, names: tuple[str, ...]) -> list[tuple[str, str, str | None, bool]]:
        """Of an object's member names, those a rule names or may name below, as (name, path, action,
        below): records of a stream repeat a few sets of names, so each set is looked at once (up to
        MEMBER_PLANS sets per topic, then per record)."""
        plan = self._actions.get(("members", path, names))
        if plan is None:
            plan = [(name, *m) for name in names if (m := self.member(path, name))[1] is not None or m[2]]
            if self._actions.setdefault("plans", [0])[0] < MEMBER_PLANS:
                self._actions["plans"][0] += 1
                self._actions["members", path, names] = plan
        return plan

    def visited(self, path: str, names: tuple[str, ...]) -> list[tuple[str, str, str | None, bool]]:
        """The members a walk of decoded fields visits, as `members` gives them: with otherwise = keep
        those a rule names or may name below, else all."""
        if self.otherwise == "keep":
            return self.members(path, names)
        return [(name, *self.member(path, name)) for name in names]

    def _below(self, path: str) -> bool:
        """Whether some path rule may name a path under `path`: its text up to its first `*` extends
        `path`, or (a pattern) `path` extends that text. It may say yes in vain, never no in vain."""
        for pattern, _ in self.paths:
            literal = pattern.split("*", 1)[0]
            if literal.startswith(path) or (literal != pattern and path.startswith(literal)):
                return True
        return False


def _path_matches(pattern: str, path: str) -> bool:
    """`$.a.*_id` (`*` within a name), `$.**.email` (`**` any depth, none included); array items are `[*]`."""
    tokens = re.split(r"(\*\*\.|\*\*|\*)", pattern)
    regex = "".join({"**.": r"(?:.*\.)?", "**": ".*", "*": r"[^.]*"}.get(t, re.escape(t)) for t in tokens)
    return re.fullmatch(regex, path) is not None


@dataclass
class MaskRules:
    """Parsed rules: `[defaults]` for every topic, `[topics.<t>]` over them (docs/sharing.md)."""

    defaults: dict[str, str] = field(default_factory=dict)
    topics: dict[str, dict[str, str]] = field(default_factory=dict)

    def for_topic(self, topic: str) -> TopicRules:
        merged = {**self.defaults, **self.topics.get(topic, {})}
        headers = tuple((t[len("header:"):], a) for t, a in merged.items() if t.startswith("header:"))
        paths = tuple((t, a) for t, a in merged.items() if t.startswith("$"))
        return TopicRules(otherwise=merged.get("otherwise", "keep"), key=merged.get("key"), value=merged.get("value"),
                          headers=headers, paths=paths, topic=topic)

    def uses_hash(self) -> bool:
        return any(a == "hash" for table in (self.defaults, *self.topics.values()) for a in table.values())

    def to_json(self) -> dict:
        return {"defaults": self.defaults, "topics": self.topics}


def parse_rules(rules: str | Path | Mapping) -> MaskRules:
    """Rules from a TOML file or a mapping: `[defaults]` and `[topics.<name>]` tables of target =
    action, targets `key`, `value`, `header:<name pattern>`, `$.<path pattern>` and `otherwise`."""
    import tomllib

    if isinstance(rules, Mapping):
        raw = dict(rules)
    else:
        try:
            raw = tomllib.loads(Path(rules).read_text())
        except OSError as exc:
            raise UsageError(f"mask rules {rules}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise UsageError(f"mask rules {rules}: not valid TOML ({exc})") from None
    unknown = set(raw) - {"defaults", "topics"}
    if unknown:
        raise UsageError(f"mask rules: unknown section(s) {', '.join(sorted(unknown))}; use [defaults] and [topics.<name>]")

    def table(value, where: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise UsageError(f"mask rules {where}: expected a table of target = action")
        for target, action in value.items():
            if not _TARGET.match(target):
                raise UsageError(f"mask rules {where}: unknown target {target!r}; targets are key, value, "
                                 "header:<name>, $.<json.path> and otherwise")
            if action not in ACTIONS:
                raise UsageError(f"mask rules {where}.{target}: unknown action {action!r}; actions are {', '.join(ACTIONS)}")
        return dict(value)

    topics = raw.get("topics", {})
    if not isinstance(topics, Mapping):
        raise UsageError("mask rules [topics]: expected tables [topics.<name>]")
    return MaskRules(table(raw.get("defaults", {}), "[defaults]"),
                     {t: table(v, f"[topics.{t}]") for t, v in topics.items()})


def read_key(key: bytes | str | None = None, *, key_file: str | Path | None = None) -> bytes | None:
    """The HMAC key from `key` or the file `key_file` (a trailing newline is not part of it)."""
    if key_file is not None:
        try:
            key = Path(key_file).read_bytes().rstrip(b"\r\n")
        except OSError as exc:
            raise UsageError(f"mask key file {key_file}: {exc.strerror or exc}") from None
    return key.encode() if isinstance(key, str) else key


def fingerprint(key: bytes) -> str:
    """What a manifest records of the key: enough to tell two keys apart, nothing to hash with."""
    return "hmac-sha256:" + hashlib.sha256(b"evkit mask key fingerprint\0" + key).hexdigest()[:16]


class Masker:
    """Applies MaskRules with one HMAC key to RECORD_SCHEMA tables. Picklable (dump workers)."""

    def __init__(self, rules: MaskRules, key: bytes | None, *, placement_modulus: int | None = None):
        if rules.uses_hash():
            if not key:
                raise UsageError("the mask rules hash values: give the HMAC key (--key-file PATH, or key=... in Python)")
            if len(key) < MIN_KEY_BYTES:
                raise UsageError(f"the mask key has {len(key)} bytes; use at least {MIN_KEY_BYTES} random bytes "
                                 "(e.g. `openssl rand -hex 32 > mask.key`)")
        self.rules, self.key, self.placement_modulus = rules, key, placement_modulus
        self.framed = None  # evkit mask: the dataset's stored schemas (mask_framed.FramedValues); None during a dump
        self._topics: dict[str, TopicRules] = {}
        self._hashes: dict[bytes, str] = {}  # per table: each distinct value hashed once
        self._pads = None  # HMAC's inner and outer SHA-256 states after the padded key (hashed())

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_pads": None}  # hash states do not pickle; hashed() makes them again

    def to_options(self) -> dict:
        """As JSON for a dump's worker processes (the key travels on their stdin, never to a file)."""
        return {"rules": self.rules.to_json(), "key": self.key.hex() if self.key else None,
                "placement_modulus": self.placement_modulus}

    @classmethod
    def from_options(cls, options: dict) -> Masker:
        return cls(MaskRules(**options["rules"]), bytes.fromhex(options["key"]) if options["key"] else None,
                   placement_modulus=options["placement_modulus"])

    def record(self, *, placement_modulus: int | None) -> dict:
        """The manifest's `masking` record: the rules, the key's fingerprint, how placements are stored."""
        return {"rules": self.rules.to_json(), "key_fingerprint": fingerprint(self.key) if self.key else None,
                "placement": None if placement_modulus is None else {
                    "column": "key_placement", "partitioners": list(CANDIDATES.values()),
                    "modulus": placement_modulus}}

    def topic(self, topic: str) -> TopicRules:
        if topic not in self._topics:
            self._topics[topic] = self.rules.for_topic(topic)
        return self._topics[topic]

    # --- values --------------------------------------------------------------------------------
    def hashed(self, data: bytes) -> str:
        """HMAC-SHA256 (RFC 2104) from the SHA-256 states after the padded key, copied per value:
        2.5x faster than hmac.digest, which pads and absorbs the key for every value."""
        if data not in self._hashes:
            if self._pads is None:
                block = (hashlib.sha256(self.key).digest() if len(self.key) > 64 else self.key).ljust(64, b"\0")
                self._pads = tuple(hashlib.sha256(bytes(b ^ pad for b in block)) for pad in (0x36, 0x5C))
            inner, outer = self._pads[0].copy(), self._pads[1].copy()
            inner.update(data)
            outer.update(inner.digest())
            self._hashes[data] = outer.hexdigest()[:HASH_HEX]
        return self._hashes[data]

    def column(self, array: pa.Array | pa.ChunkedArray, action: str) -> pa.Array | pa.ChunkedArray:
        """A binary column under one action, each distinct value masked once (Arrow dictionary
        encoding: the distinct values, then indices into them)."""
        if action == "keep":
            return array
        encoded = pc.dictionary_encode(array)
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        masked = [pc.take(pa.array([self.bytes_value(v, action) for v in chunk.dictionary.to_pylist()], pa.binary()),
                          chunk.indices) for chunk in chunks]
        return pa.chunked_array(masked, pa.binary()) if isinstance(encoded, pa.ChunkedArray) else masked[0]

    def bytes_value(self, data: bytes | None, action: str) -> bytes | None:
        """Null and empty stay as they are: they carry nothing to hide, and checks treat them apart."""
        if not data or action == "keep":
            return data
        if action == "drop":
            return None
        if action == "hash":
            return self.hashed(data).encode()
        return b"*" * len(data) if action == "redact_same_size" else MARKER.encode()

    def json_value(self, node, action: str):
        """A JSON node under an action; MISSING for drop."""
        if action == "keep" or node is None:
            return node
        if action == "drop":
            return _MISSING
        text = node if isinstance(node, str) else _JSON.encode(node)
        if action == "hash":
            return self.hashed(text.encode())
        return "*" * len(text.encode()) if action == "redact_same_size" else MARKER

    def walk(self, node, path: str, rules: TopicRules):
        action = rules.path_action(path)
        if action is not None:
            return self.json_value(node, action)
        if isinstance(node, dict):
            out = {}
            for name, child in node.items():
                masked = self.walk(child, f"{path}.{name}", rules)
                if masked is not _MISSING:
                    out[name] = masked
            return out
        if isinstance(node, list):
            return [m for m in (self.walk(child, f"{path}[*]", rules) for child in node) if m is not _MISSING]
        return self.json_value(node, rules.otherwise)

    def walk_kept(self, node, path: str, rules: TopicRules):
        """`walk` where anything no rule names is kept (otherwise = keep): the parsed document is
        changed in place, and only members a rule names, or may name below, are visited (most are
        neither); the same result as `walk` (a test compares them)."""
        action = rules.path_action(path)
        if action is not None:
            return self.json_value(node, action)
        if isinstance(node, dict):
            for name, child_path, action, below in rules.members(path, tuple(node)):
                child = node[name]
                if action is not None:
                    masked = self.json_value(child, action)
                    if masked is _MISSING:
                        del node[name]
                    else:
                        node[name] = masked  # an existing member: the dict's order stays
                elif below and isinstance(child, (dict, list)):
                    self.walk_kept(child, child_path, rules)
        elif isinstance(node, list):
            child_path, action, below = rules.member(path, "[*]")
            if action is not None:
                node[:] = [m for m in (self.json_value(child, action) for child in node) if m is not _MISSING]
            elif below:
                for child in node:
                    if isinstance(child, (dict, list)):
                        self.walk_kept(child, child_path, rules)
        return node

    def walk_avro(self, node, path: str, rules: TopicRules):
        """A value decoded by fastavro, masked in place by the JSON walk's rules (records and maps are
        dicts, arrays lists; a named type of a union with several is a (name, value) pair). Each action
        is one the field's type can hold (mask_avro checked it): drop makes it null, strings are masked
        as JSON strings, bytes as keys; with otherwise = keep only what a rule names or may name below
        is visited."""
        action = rules.path_action(path)
        if isinstance(node, tuple):
            masked = self.walk_avro(node[1], path, rules)
            return None if masked is None else (node[0], masked)
        if action is not None or not isinstance(node, (dict, list)):
            return self.field_value(node, action or rules.otherwise)
        if isinstance(node, dict):
            for name, child_path, *_ in rules.visited(path, tuple(node)):
                node[name] = self.walk_avro(node[name], child_path, rules)
        else:
            child_path, action, below = rules.member(path, "[*]")
            if action is not None or below or rules.otherwise != "keep":
                node[:] = [self.walk_avro(child, child_path, rules) for child in node]
        return node

    def field_value(self, node, action: str):
        """A decoded Avro or Protobuf field's value under an action its type can hold: None for drop,
        bytes masked as keys are, anything else as JSON (a string gets the JSON text of the hash)."""
        if action == "drop":
            return None
        return self.bytes_value(node, action) if isinstance(node, bytes) else self.json_value(node, action)

    def value(self, data: bytes | None, rules: TopicRules) -> bytes | None:
        if not data:
            return data
        try:  # json.loads detects the encoding: a value starting with `{` or `[` (not UTF-16/32) is UTF-8
            document = json.loads(data.decode("utf-8", "surrogatepass") if data[:1] in b"{[" and data[1:2] != b"\0" else data)
        except ValueError:
            return self._no_document(data, rules)
        if not isinstance(document, (dict, list)):
            return self._no_document(data, rules)
        masked = (self.walk_kept if rules.otherwise == "keep" else self.walk)(document, "$", rules)
        if masked is _MISSING:  # `"$" = "drop"`: as `value = "drop"`
            return None
        text = _JSON.encode(masked)
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate (`"\ud800"` in the JSON): kept escaped, as it came
            return json.dumps(masked, separators=(",", ":")).encode()

    def _no_document(self, data: bytes, rules: TopicRules) -> bytes | None:
        """A value that is no JSON document, by `otherwise`. A value framed by a Schema Registry under
        `$` rules (Avro and Protobuf of a stored schema do not come here): a JSON document behind the
        frame (JSON Schema) is walked and keeps its frame; any other is `unreadable`. During a dump
        (no schemas yet) such a value is refused: masked whole it would ignore the rules, kept it
        would leak the fields they mask."""
        if not (rules.paths and len(data) >= 5 and data[0] == 0):
            return self.bytes_value(data, rules.otherwise)
        if self.framed is None:
            raise UsageError(f"topic {rules.topic}: field rules ($...) cannot mask values framed by a Schema Registry "
                             f"(schema id {int.from_bytes(data[1:5], 'big')}) during a dump, before their schemas are "
                             "stored; dump without --mask into a new directory, then run `evkit mask DATASET --out DIR`")
        if data[5:6] in (b"{", b"["):
            masked = self.value(data[5:], rules)
            return None if masked is None else data[:5] + masked
        return self.unreadable(data, rules)

    def unreadable(self, data: bytes, rules: TopicRules) -> bytes | None:
        """A framed value whose fields the `$` rules cannot reach (a payload that does not decode, a
        schema not stored or not readable), masked whole by `otherwise`. Where that is keep it is never
        kept raw: it is hashed whole, so equal values stay equal and distinct ones distinct (the
        duplicate checks judge them as on the raw dump), and the hash, framed by nothing, can never
        decode by chance (the decoder counts it as `wrong_magic_byte`); redacted when no key was given."""
        if rules.otherwise != "keep":
            return self.bytes_value(data, rules.otherwise)
        return self.bytes_value(data, "hash" if self.key is not None else "redact")

    # --- tables --------------------------------------------------------------------------------
    def apply(self, table: pa.Table) -> pa.Table:
        """The table masked (MASKED_SCHEMA: RECORD_SCHEMA plus `key_placement`), rows in order."""
        topics = pc.unique(table.column("topic")).to_pylist()
        if len(topics) <= 1:
            return self._apply_topic(topics[0], table) if topics else MASKED_SCHEMA.empty_table()
        return pa.concat_tables([self._apply_topic(t, table.filter(pc.equal(table.column("topic"), t))) for t in topics]
                                ).sort_by([("topic", "ascending"), ("partition", "ascending"), ("offset", "ascending")])

    def _apply_topic(self, topic: str, table: pa.Table) -> pa.Table:
        rules = self.topic(topic)
        self._hashes.clear()  # the cache lives for one table: memory stays flat over a dataset
        try:
            key_action = rules.key or rules.otherwise
            if rules.value is not None:  # the value as a whole: by distinct value, in Arrow
                values = self.column(table.column("value"), rules.value)
            elif rules.paths and self.framed is not None and self.framed.schemas:  # Avro, Protobuf and JSON fields
                values = self.framed.mask(table.column("value"), rules, self)
            else:  # JSON fields: each value parsed and walked
                values = [self.value(v, rules) for v in table.column("value").to_pylist()]
            masked = record_table(topic=table.column("topic"), partition=table.column("partition"),
                                  offset=table.column("offset"), timestamp=table.column("timestamp"),
                                  timestamp_type=table.column("timestamp_type"),
                                  key=self.column(table.column("key"), key_action), value=values,
                                  headers=self._headers(table.column("headers"), rules),
                                  leader_epoch=table.column("leader_epoch"))
        finally:
            self._hashes.clear()
        return masked.append_column(MASKED_SCHEMA.field("key_placement"),
                                    self._placements(table.column("key"), key_action))

    def _headers(self, column: pa.ChunkedArray, rules: TopicRules) -> pa.ChunkedArray | pa.Array:
        """Each header by its name's action, in Arrow: the header values of one action masked per
        distinct value, dropped headers filtered out, each record's list rebuilt from what is left
        (a null list becomes an empty one). Names all kept: the column itself, when it has no null list."""
        lists = column.combine_chunks()
        flat = pc.list_flatten(lists)
        names, values = flat.field("key"), flat.field("value")
        encoded = pc.dictionary_encode(names)
        actions = np.array([rules.header_action(n) for n in encoded.dictionary.to_pylist()] or ["keep"], dtype=object)
        if lists.null_count == 0 and set(actions) == {"keep"}:
            return column
        item_actions = actions[encoded.indices.to_numpy(zero_copy_only=False)]
        masked = values.to_numpy(zero_copy_only=False).copy()
        for action in set(actions) - {"keep", "drop"}:
            chosen = np.flatnonzero(item_actions == action)
            masked[chosen] = self.column(values.take(chosen), action).to_numpy(zero_copy_only=False)
        kept = item_actions != "drop"
        items = pa.StructArray.from_arrays([names.filter(kept), pa.array(masked[kept], pa.binary())],
                                           fields=list(HEADER_TYPE.value_type))
        parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False)[kept]
        offsets = np.concatenate([[0], np.cumsum(np.bincount(parents, minlength=len(lists)))]).astype(np.int32)
        return pa.ListArray.from_arrays(pa.array(offsets), items, type=HEADER_TYPE)

    def _placements(self, raw_keys: pa.ChunkedArray, key_action: str) -> pa.Array:
        """Per record the raw key's placement hashes mod the modulus, where the key is hashed (a
        one-to-one map, so the masked key stands for the raw one); null elsewhere."""
        raw_keys = raw_keys.combine_chunks()
        keyed = pc.fill_null(pc.greater(pc.binary_length(raw_keys), 0), False).to_numpy(zero_copy_only=False)
        if key_action != "hash" or not keyed.any():
            return pa.nulls(len(raw_keys), PLACEMENT_TYPE)
        hashes = placement_hashes(raw_keys, PLACEMENT_FIELDS)
        modulus = self.placement_modulus or (1 << 32)
        columns = [pa.array(np.where(hashes[name] < 0, -1, hashes[name] % modulus), pa.int64())
                   for name in PLACEMENT_FIELDS]
        return pa.StructArray.from_arrays(columns, fields=list(PLACEMENT_TYPE), mask=pa.array(~keyed))


_MISSING = object()


def placement_modulus(partition_counts: list[int]) -> int | None:
    """lcm(1..N) for the largest partition count N: the least that keeps `hash % m` for every m <= N
    (what the partitioner and partition_count_change checks ask); None (the whole hash) past 2^32."""
    modulus = math.lcm(*range(1, max(partition_counts, default=1) + 1))
    return modulus if modulus < (1 << 32) else None


def mask(
    dataset: str | Path,
    *,
    out: str | Path,
    rules: str | Path | Mapping,
    key: bytes | str | None = None,
    key_file: str | Path | None = None,
    quiet: bool = False,
) -> list[Manifest]:
    """Write a masked copy of the verified dataset `dataset` to the new directory `out`; return its
    manifests. Each run keeps its id and ranges; files are rewritten masked (their statistics and
    dictionaries hold only masked values) and the manifests record the rules and the key's
    fingerprint. Avro and Protobuf values framed by a stored schema are masked field by field
    (mask_avro.py, mask_protobuf.py), every rule checked against their schemas first; the schemas
    are copied. Manifests are written last: an interrupted mask leaves no dataset that verifies."""
    import shutil

    from ..analysis.verify import load_dataset
    from ..schemas.store import SCHEMAS_DIR, load_schemas
    from ..store.writer import PartitionFileWriter
    from .mask_avro import AvroSchema
    from .mask_framed import FramedValues
    from .mask_protobuf import ProtobufSchema
    import pyarrow.parquet as pq

    masker = Masker(parse_rules(rules), read_key(key, key_file=key_file))
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {out} exists and is not empty; mask writes a new dataset")
    source = load_dataset(dataset, quiet=quiet)
    if masking_of(source.manifests) is not None:
        raise UsageError(f"{dataset} is already masked; mask the original dataset")
    root = Path(source.root)
    masker.framed = FramedValues(load_schemas(root), {"AVRO": AvroSchema, "PROTOBUF": ProtobufSchema})
    masker.framed.check_dataset(root, source.manifests, masker)
    counts = [info.get("partition_count") or 1 for m in source.manifests for info in m.topics.values()]
    counts += [p.partition + 1 for m in source.manifests for p in m.partitions]
    masker.placement_modulus = placement_modulus(counts)
    progress = Progress(quiet=quiet)
    progress.start(total=sum(m.records for m in source.manifests), unit="records")
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_identity(out, source.cluster_id)
        if masker.framed.schemas:  # as stored (their sha256 is in the manifests): schemas hold no record's data
            shutil.copytree(root / SCHEMAS_DIR, out / SCHEMAS_DIR)
        for manifest in source.manifests:
            partitions = []
            for part in manifest.partitions:
                committed = []
                for entry in part.files:
                    table = pq.read_table(root / entry.path, schema=RECORD_SCHEMA)
                    writer = PartitionFileWriter(out, part.topic, part.partition, entry.start, run_id=manifest.run_id,
                                                 schema=MASKED_SCHEMA)
                    writer.write(masker.apply(table))
                    committed.append(writer.commit(entry.end))
                    progress.update(table.num_rows, records=table.num_rows, data_bytes=0)
                copy = PartitionEntry.from_json(part.to_json())
                copy.add_files(committed)
                partitions.append(copy)
            written.append(replace(manifest, partitions=partitions, tool={**manifest.tool, "evkit_mask": __version__},
                                   masking={**masker.record(placement_modulus=masker.placement_modulus),
                                            "masked_at": utc_now(), "source": "evkit mask"}))
        for manifest in written:
            write_manifest(out, manifest)
    except OSError as exc:
        raise write_failure(out, exc) from None
    finally:
        progress.close()
    return written


def check_dataset_masking(out: Path, record: dict | None) -> None:
    """Refuse a dump run whose masking differs from the runs already in `out` (masked or not)."""
    if not out.exists() or read_identity(out) is None:
        return
    manifests = read_manifests(out)
    if not manifests:
        return
    existing = masking_of(manifests)
    if masking_identity(existing) != masking_identity(record):
        raise DatasetError(f"--out {out} holds runs {'masked differently' if existing else 'that are not masked'}; "
                           "dump into another directory")

