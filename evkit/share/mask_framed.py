"""Values framed by a stored registry schema masked field by field, for `evkit mask` (docs/sharing.md,
"Avro fields" and "Protobuf fields"): what the formats share. Each stored schema is parsed once per
id by its format's class (mask_avro.AvroSchema, mask_protobuf.ProtobufSchema); before anything is
written, every topic's rules are checked against each message type its values name; a value is
decoded, walked with the topic's `$` rules and written back behind the frame bytes it came with, or,
where it does not decode, masked whole (never kept raw).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from ..analysis.decoders.framing import frames
from ..errors import UsageError
from ..schemas.store import StoredSchema
from .mask import Masker, TopicRules

if TYPE_CHECKING:
    from ..store.manifest import Manifest

TEXT_ACTIONS = ("keep", "hash", "redact", "redact_same_size")  # what a string or bytes can hold
ANY_KEY = "<key>"  # a map key no rule names literally: the key the check gives `otherwise` and wildcards
_SEGMENT = re.compile(r"\.|\[\*\]")


class CorruptPayload(Exception):
    """A framed value that does not decode exactly in its schema."""


def rule_names(rules: TopicRules) -> tuple[list[str], int]:
    """What a check walks a schema with: the map keys (the names the rules write, and one no rule
    names) and how deep a recursive type is followed (as deep as the longest rule path reaches)."""
    segments = [_SEGMENT.split(pattern) for pattern, _ in rules.paths]
    keys = sorted({s for parts in segments for s in parts} - {"", "$"} | {ANY_KEY})
    return keys, max(map(len, segments), default=1)


class FramedSchema:
    """One stored schema of a format. A format gives `decoded`, `encoded` and `check`, and `variants`
    where its values name one of several types (Protobuf's message indexes)."""

    format = ""  # "Avro", "Protobuf": what the check's errors call the types
    id: int

    def decoded(self, data: bytes) -> tuple[int, object]:
        """(the length of the frame, the decoded payload); CorruptPayload where it does not decode."""
        raise NotImplementedError

    def encoded(self, decoded, rules: TopicRules, masker: Masker) -> bytes:
        """The decoded payload masked by the rules, encoded again."""
        raise NotImplementedError

    def check(self, rules: TopicRules, variant: tuple) -> None:
        """UsageError for the first rule, or `otherwise`, that reaches a field of the variant's type
        that cannot hold its action."""
        raise NotImplementedError

    def variants(self, values: pa.Array) -> set[tuple]:
        """The types (keys for `check`) that values framed by this schema name: one for every value."""
        return {()}

    def masked(self, data: bytes, rules: TopicRules, masker: Masker) -> bytes | None:
        """The framed value with its fields masked, behind the same frame bytes; a payload that does
        not decode is masked whole (`Masker.unreadable`)."""
        try:
            frame, decoded = self.decoded(data)
        except CorruptPayload:
            return masker.unreadable(data, rules)
        if rules.path_action("$") == "drop":
            return None
        return data[:frame] + self.encoded(decoded, rules, masker)

    def require(self, action: str, allowed: list[str] | tuple[str, ...], path: str, type_name: str, topic: str, *,
                from_otherwise: bool) -> None:
        """The check's one-line error where `action` is not among what the field's type allows."""
        if action not in allowed:
            raise UsageError(f"mask rules, topic {topic}: {path} is {self.format} {type_name} (schema id {self.id}), "
                             f"which allows {', '.join(allowed)}, not {action}{' (otherwise)' if from_otherwise else ''}")


class FramedValues:
    """The dataset's stored schemas of the formats masked by field (schema type -> FramedSchema
    class), each parsed when a value first names it."""

    def __init__(self, schemas: dict[int, StoredSchema], formats: dict[str, type[FramedSchema]]):
        self.schemas, self.formats = schemas, formats
        self._parsed: dict[int, FramedSchema] = {}

    def schema(self, schema_id: int) -> FramedSchema | None:
        stored = self.schemas.get(schema_id)
        if stored is None or stored.schema_type not in self.formats:
            return None
        if schema_id not in self._parsed:
            self._parsed[schema_id] = self.formats[stored.schema_type](stored, self.schemas)
        return self._parsed[schema_id]

    def check_dataset(self, root: Path, manifests: list[Manifest], masker: Masker) -> None:
        """Check each topic's field rules against every type its values name (their schema ids, and
        Protobuf's message indexes, read from the value columns once), before anything is written."""
        if not any(s.schema_type in self.formats for s in self.schemas.values()):
            return
        checked: set[tuple[str, int, tuple]] = set()
        for manifest in manifests:
            for part in manifest.partitions:
                rules = masker.topic(part.topic)
                if not rules.paths or rules.value is not None:
                    continue
                for entry in part.files:
                    values = pq.read_table(root / entry.path, columns=["value"]).column("value").combine_chunks()
                    ids = frames(values)[1]
                    for schema_id in sorted(set(ids.tolist()) - {-1}):
                        schema = self.schema(schema_id)
                        if schema is None:
                            continue
                        for variant in sorted(schema.variants(values.filter(pa.array(ids == schema_id)))):
                            if (part.topic, schema_id, variant) not in checked:
                                schema.check(rules, variant)
                                checked.add((part.topic, schema_id, variant))

    def mask(self, column: pa.ChunkedArray, rules: TopicRules, masker: Masker) -> list[bytes | None]:
        """A value column under field rules: values framed by a stored schema of these formats by
        field, the rest as `Masker.value` masks them."""
        values = column.combine_chunks()
        ids = frames(values)[1].tolist()
        masked = []
        for data, schema_id in zip(values.to_pylist(), ids):
            schema = self.schema(schema_id) if schema_id >= 0 else None
            masked.append(schema.masked(data, rules, masker) if schema is not None else masker.value(data, rules))
        return masked
