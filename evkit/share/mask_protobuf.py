"""Protobuf values masked field by field (docs/sharing.md, "Protobuf fields"), for `evkit mask`, as
Avro values are (mask_framed.py holds what they share): a value framed by a stored Protobuf schema
(the serialized FileDescriptorProto the decoder reads) is parsed into the message its message indexes
name, walked with the topic's `$` rules under the names the analysis gives its fields (the `.proto`
field names; map keys `.key`, repeated items `[*]`) and serialized again behind the same frame bytes
(magic byte, schema id, message indexes as they were).

A well-known type is one value, as the analysis reads it (Timestamp, a wrapper, Struct, ...): a rule
keeps or drops it, and a StringValue or BytesValue takes the text actions. Fields the schema does not
name (unknown fields) are removed: no rule can name them and the analysis does not read them.
"""
from __future__ import annotations

import pyarrow as pa
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor, FileDescriptor
from google.protobuf.message import DecodeError, Message

from ..analysis.decoders.protobuf import AS_JSON, WRAPPERS, Reader, message_indexes
from ..schemas.store import StoredSchema
from .mask import ACTIONS, Masker, TopicRules
from .mask_framed import TEXT_ACTIONS, CorruptPayload, FramedSchema, rule_names

F = FieldDescriptor
WELL_KNOWN = WRAPPERS | AS_JSON | {"google.protobuf.Timestamp", "google.protobuf.Duration"}  # one value each
TEXT_WRAPPERS = {"google.protobuf.StringValue", "google.protobuf.BytesValue"}
WHOLE = ("keep", "drop")  # what a message, a repeated field or a map as a whole can take


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _is_record(field: FieldDescriptor) -> bool:
    """A message walked field by field (not a well-known type, which is one value)."""
    return field.type == F.TYPE_MESSAGE and field.message_type.full_name not in WELL_KNOWN


def _allowed(field: FieldDescriptor) -> list[str]:
    """What one value of the field can take: the text actions for a string or bytes (or their
    wrappers), keep for the rest; drop (the field cleared) unless it is proto2 `required`."""
    text = field.type in (F.TYPE_STRING, F.TYPE_BYTES) or (
        field.type == F.TYPE_MESSAGE and field.message_type.full_name in TEXT_WRAPPERS)
    return [a for a in ACTIONS if (not field.is_required if a == "drop" else a in (TEXT_ACTIONS if text else WHOLE))]


def _declares_extensions(file: FileDescriptor) -> bool:
    """Whether the file, or one it imports, declares a (proto2) extension: fields no rule walks."""
    def nested(descriptor: Descriptor) -> bool:
        return bool(descriptor.extensions) or any(map(nested, descriptor.nested_types))
    return (bool(file.extensions_by_name) or any(map(nested, file.message_types_by_name.values()))
            or any(map(_declares_extensions, file.dependencies)))


def _type_name(field: FieldDescriptor, *, whole: bool = False) -> str:
    """string, int64, enum x.Side, x.Item, google.protobuf.Timestamp, required string; with `whole`
    the repeated field or map itself: repeated string, map<string, string>."""
    if whole and _is_map(field):
        entry = field.message_type.fields_by_name
        return f"map<{_type_name(entry['key'])}, {_type_name(entry['value'])}>"
    if field.type == F.TYPE_MESSAGE:
        single = field.message_type.full_name
    elif field.type == F.TYPE_ENUM:
        single = f"enum {field.enum_type.full_name}"
    else:
        single = descriptor_pb2.FieldDescriptorProto.Type.Name(field.type)[len("TYPE_"):].lower()
    return f"repeated {single}" if whole else f"required {single}" if field.is_required else single


class ProtobufSchema(FramedSchema):
    """One stored Protobuf schema: its message types by message indexes (the decoder's Reader). A
    schema the decoder cannot read (`.proto` text) has no fields to find, and one that declares
    extensions has fields the walk does not see: the values of both are masked whole."""

    format = "Protobuf"

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        self.id = schema.id
        try:
            self.reader: Reader | None = Reader(schema, schemas)
        except Exception:  # noqa: BLE001 - as the decoder: a schema it cannot read, values it cannot decode
            self.reader = None
        if self.reader is not None and _declares_extensions(self.reader.file):
            self.reader = None

    def decoded(self, data: bytes) -> tuple[int, Message]:
        if self.reader is None:
            raise CorruptPayload
        try:
            start, message = self.reader.parsed(data)
        except (IndexError, DecodeError, RuntimeWarning):
            raise CorruptPayload from None
        message.DiscardUnknownFields()
        return start, message

    def encoded(self, message: Message, rules: TopicRules, masker: Masker) -> bytes:
        """Serialized as it is (a required field the producer left unset stays unset), maps in key
        order so that equal messages give equal bytes."""
        if rules.path_action("$") != "keep":
            self._walk(message, "$", rules, masker)
        return message.SerializePartialToString(deterministic=True)

    def variants(self, values: pa.Array) -> set[tuple]:
        """The message indexes that name a message type of the schema (values naming none are
        masked whole)."""
        found: set[tuple] = set()
        for value in values.to_pylist() if self.reader is not None else ():
            try:
                indexes = message_indexes(value)[0]
                if indexes not in found:
                    self.reader.message_class(indexes)
                    found.add(indexes)
            except IndexError:
                continue
        return found

    # --- the walk ------------------------------------------------------------------------------
    def _walk(self, message: Message, path: str, rules: TopicRules, masker: Masker) -> None:
        """Mask a message in place: each field that is set, by its rule or `otherwise` (with otherwise
        = keep only the fields a rule names or may name below). Unset fields stay unset."""
        listed = {field.name: field for field, _ in message.ListFields()}
        for name, child_path, action, _ in rules.visited(path, tuple(listed)):
            field = listed[name]
            if action == "drop":
                message.ClearField(name)
            elif action == "keep":
                continue
            elif _is_map(field):
                self._map(getattr(message, name), field.message_type.fields_by_name["value"], child_path, rules, masker)
            elif field.is_repeated:
                self._repeated(getattr(message, name), field, child_path, rules, masker)
            else:
                masked = self._value(getattr(message, name), field, child_path, action, rules, masker)
                if masked is None:
                    message.ClearField(name)
                elif field.type != F.TYPE_MESSAGE:
                    setattr(message, name, masked)

    def _repeated(self, items, field: FieldDescriptor, path: str, rules: TopicRules, masker: Masker) -> None:
        """A repeated field's items by the rule on `path[*]`; dropped items leave it empty."""
        item_path, action, below = rules.member(path, "[*]")
        if action is None and not below and rules.otherwise == "keep":
            return
        masked = [self._value(item, field, item_path, action, rules, masker) for item in items]
        if None in masked:  # one action for every item: all dropped
            del items[:]
        elif field.type != F.TYPE_MESSAGE:
            items[:] = masked

    def _map(self, entries, value_field: FieldDescriptor, path: str, rules: TopicRules, masker: Masker) -> None:
        """A map's values by their key's path (`path.key`); a dropped value removes its entry."""
        keys = {str(key): key for key in entries}
        for name, key_path, action, _ in rules.visited(path, tuple(keys)):
            key = keys[name]
            masked = self._value(entries[key], value_field, key_path, action, rules, masker)
            if masked is None:
                del entries[key]
            elif value_field.type != F.TYPE_MESSAGE:
                entries[key] = masked

    def _value(self, value, field: FieldDescriptor, path: str, action: str | None, rules: TopicRules, masker: Masker):
        """One value of `field` (the field's own, a repeated item, a map value) under its rule: a
        message is masked in place and returned, a scalar returned masked; None for drop. Each action
        is one the field can hold (check)."""
        if _is_record(field):
            if action is None:
                self._walk(value, path, rules, masker)
            return None if action == "drop" else value
        action = action or rules.otherwise
        if field.type != F.TYPE_MESSAGE:
            return masker.field_value(value, action)
        if action not in WHOLE:  # a text action on a StringValue or BytesValue
            value.value = masker.field_value(value.value, action)
        return None if action == "drop" else value

    # --- the check -----------------------------------------------------------------------------
    def check(self, rules: TopicRules, variant: tuple) -> None:
        """Against the message type the indexes `variant` name. Map keys are the names rules write
        (and one no rule names); a recursive message is followed as deep as the longest rule path reaches."""
        descriptor = self.reader.message_class(variant).DESCRIPTOR
        action = rules.path_action("$")
        if action is not None:
            return self.require(action, WHOLE, "$", descriptor.full_name, rules.topic, from_otherwise=False)
        keys, depth = rule_names(rules)
        self._check_message(descriptor, "$", rules, keys, depth, ())

    def _check_message(self, descriptor: Descriptor, path: str, rules: TopicRules, keys: list[str], depth: int,
                       messages: tuple[str, ...]) -> None:
        for field in descriptor.fields:
            self._check_field(field, f"{path}.{field.name}", rules, keys, depth, messages + (descriptor.full_name,))

    def _check_field(self, field: FieldDescriptor, path: str, rules: TopicRules, keys: list[str], depth: int,
                     messages: tuple[str, ...]) -> None:
        action = rules.path_action(path)
        if field.is_repeated and action is not None:  # the repeated field or map as a whole
            self.require(action, WHOLE, path, _type_name(field, whole=True), rules.topic, from_otherwise=False)
        elif _is_map(field):
            for key in keys:
                self._check_value(field.message_type.fields_by_name["value"], f"{path}.{key}", rules, keys, depth, messages)
        elif field.is_repeated:
            self._check_value(field, rules.member(path, "[*]")[0], rules, keys, depth, messages)
        else:
            self._check_value(field, path, rules, keys, depth, messages)

    def _check_value(self, field: FieldDescriptor, path: str, rules: TopicRules, keys: list[str], depth: int,
                     messages: tuple[str, ...]) -> None:
        """One value of a field: its rule, else a message's fields in turn, else `otherwise`."""
        action = rules.path_action(path)
        if action is not None:
            self.require(action, _allowed(field), path, _type_name(field), rules.topic, from_otherwise=False)
        elif _is_record(field):
            if messages.count(field.message_type.full_name) < depth:
                self._check_message(field.message_type, path, rules, keys, depth, messages)
        else:
            self.require(rules.otherwise, _allowed(field), path, _type_name(field), rules.topic, from_otherwise=True)
