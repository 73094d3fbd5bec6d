"""`protobuf`: values framed by a Schema Registry (magic byte 0, schema id, message indexes) with a
Protobuf payload, decoded against the stored schema with no generated code.

The stored schema is the serialized `FileDescriptorProto` in base64 (what confluent-kafka registers
and Apicurio returns); `.proto` text (what Confluent's registry returns) cannot be read here, and its
values count as `unreadable_schema`. Message indexes pick the message type (one Arrow type per
message type). Values convert to natural types: well-known Timestamp -> UTC timestamp, Duration ->
duration, wrappers (Int64Value, StringValue, ...) -> their value or null, Struct, Value, Any and the
like -> their JSON text, enums -> the value's name, maps -> maps, unset fields with presence -> null.
"""
from __future__ import annotations

import base64
import binascii

import numpy as np
import pyarrow as pa
from google.protobuf import (any_pb2, descriptor_pb2, descriptor_pool, duration_pb2, empty_pb2,  # noqa: F401 - register
                             field_mask_pb2, json_format, message_factory, struct_pb2, timestamp_pb2, wrappers_pb2)
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message

from ...schemas.store import StoredSchema, referenced
from .framing import PREFIX, Decoded, read_zigzag


F = FieldDescriptor
SCALARS = {
    F.TYPE_DOUBLE: pa.float64(), F.TYPE_FLOAT: pa.float32(), F.TYPE_INT64: pa.int64(), F.TYPE_SINT64: pa.int64(),
    F.TYPE_SFIXED64: pa.int64(), F.TYPE_UINT64: pa.uint64(), F.TYPE_FIXED64: pa.uint64(), F.TYPE_INT32: pa.int32(),
    F.TYPE_SINT32: pa.int32(), F.TYPE_SFIXED32: pa.int32(), F.TYPE_UINT32: pa.uint32(), F.TYPE_FIXED32: pa.uint32(),
    F.TYPE_BOOL: pa.bool_(), F.TYPE_STRING: pa.string(), F.TYPE_BYTES: pa.binary(), F.TYPE_ENUM: pa.string(),
}
WRAPPERS = {f"google.protobuf.{name}" for name in (
    "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value", "BoolValue",
    "StringValue", "BytesValue")}
AS_JSON = {f"google.protobuf.{name}" for name in ("Struct", "Value", "ListValue", "Any", "FieldMask", "Empty")}
MAX_DEPTH = 16  # a recursive message type deeper than this is kept as JSON text


def _file_proto(schema: StoredSchema) -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto()
    try:
        proto.ParseFromString(base64.b64decode(schema.schema, validate=True))
    except (binascii.Error, ValueError, DecodeError):
        raise ValueError(f"schema {schema.id} is not a serialized FileDescriptorProto (.proto text is not supported)") from None
    return proto


def message_indexes(value: bytes) -> tuple[tuple[int, ...], int]:
    """(the message indexes, where the payload starts) of a framed value: after the 5-byte prefix a
    count and that many indexes (a count of 0: the first message type); IndexError where truncated."""
    count, pos = read_zigzag(value, PREFIX)
    indexes = [0] if count == 0 else []
    for _ in range(count):
        index, pos = read_zigzag(value, pos)
        indexes.append(index)
    return tuple(indexes), pos


def _micros(message) -> int:
    return message.seconds * 1_000_000 + message.nanos // 1000


class _Converter:
    """The Arrow type of a message type, and its messages as Python values of that type."""

    def arrow_type(self, descriptor: Descriptor, depth: int = 0) -> pa.DataType:
        special = self._special_type(descriptor)
        if special is not None:
            return special
        if depth > MAX_DEPTH:
            return pa.string()
        return pa.struct([pa.field(f.name, self._field_type(f, depth)) for f in descriptor.fields])

    def _special_type(self, descriptor: Descriptor) -> pa.DataType | None:
        name = descriptor.full_name
        if name == "google.protobuf.Timestamp":
            return pa.timestamp("us", tz="UTC")
        if name == "google.protobuf.Duration":
            return pa.duration("us")
        if name in WRAPPERS:
            return self._single_type(descriptor.fields_by_name["value"], 0)
        if name in AS_JSON:
            return pa.string()
        return None

    def _single_type(self, field: FieldDescriptor, depth: int) -> pa.DataType:
        if field.type == F.TYPE_MESSAGE:
            return self.arrow_type(field.message_type, depth + 1)
        return SCALARS[field.type]

    def _field_type(self, field: FieldDescriptor, depth: int) -> pa.DataType:
        if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
            entry = field.message_type
            return pa.map_(self._single_type(entry.fields_by_name["key"], depth),
                           self._single_type(entry.fields_by_name["value"], depth))
        single = self._single_type(field, depth)
        return pa.list_(single) if field.is_repeated else single

    def value(self, message, depth: int = 0):
        name = message.DESCRIPTOR.full_name
        if name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
            return _micros(message)
        if name in WRAPPERS:
            return self._single(message.DESCRIPTOR.fields_by_name["value"], message.value, 0)
        if name in AS_JSON or depth > MAX_DEPTH:
            try:
                return json_format.MessageToJson(message, indent=None)
            except (TypeError, KeyError, json_format.Error):  # an Any of a type not in the schema
                return None
        row = {}
        for field in message.DESCRIPTOR.fields:
            current = getattr(message, field.name)
            if field.type == F.TYPE_MESSAGE and field.message_type.GetOptions().map_entry:
                value_field = field.message_type.fields_by_name["value"]
                row[field.name] = [(k, self._single(value_field, v, depth)) for k, v in current.items()]
            elif field.is_repeated:
                row[field.name] = [self._single(field, v, depth) for v in current]
            elif field.has_presence and not message.HasField(field.name):
                row[field.name] = None
            else:
                row[field.name] = self._single(field, current, depth)
        return row

    def _single(self, field: FieldDescriptor, value, depth: int):
        if field.type == F.TYPE_MESSAGE:
            return self.value(value, depth + 1)
        if field.type == F.TYPE_ENUM:
            known = field.enum_type.values_by_number.get(value)
            return known.name if known else str(value)
        return value


class Reader:
    """Decodes the framed values of one Protobuf schema, per message type, into Arrow arrays."""

    json_text = False

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        pool = descriptor_pool.DescriptorPool()
        added: set[str] = set()

        def add(proto: descriptor_pb2.FileDescriptorProto) -> None:
            for dependency in proto.dependency:  # well-known types are not registered as references
                if dependency not in added and dependency not in provided:
                    well_known = descriptor_pb2.FileDescriptorProto()
                    descriptor_pool.Default().FindFileByName(dependency).CopyToProto(well_known)
                    add(well_known)
            pool.Add(proto)
            added.add(proto.name)

        imported = {(r.subject, r.version): r.name for s in schemas.values() for r in s.references}
        references = [(imported[(ref.subject, ref.version)], _file_proto(ref)) for ref in referenced(schema, schemas)]
        provided = {proto.name for _, proto in references} | {name for name, _ in references}
        for name, proto in references:
            proto.name = proto.name or name
            add(proto)
        main = _file_proto(schema)
        main.name = main.name or f"evkit_schema_{schema.id}.proto"
        add(main)
        self.file = pool.FindFileByName(main.name)
        self.converter = _Converter()
        self.classes: dict[tuple[int, ...], type] = {}

    def parsed(self, value: bytes) -> tuple[int, Message]:
        """(where the payload starts, the message) of a framed value. IndexError (truncated indexes,
        no message type at those indexes), DecodeError or RuntimeWarning where it does not decode."""
        indexes, start = message_indexes(value)
        return start, self.message_class(indexes).FromString(value[start:])

    def message_class(self, indexes: tuple[int, ...]) -> type:
        """The class of the message type that message indexes name; IndexError for none."""
        if indexes not in self.classes:
            descriptor = list(self.file.message_types_by_name.values())[indexes[0]]
            for index in indexes[1:]:
                descriptor = descriptor.nested_types[index]
            self.classes[indexes] = message_factory.GetMessageClass(descriptor)
        return self.classes[indexes]

    def read(self, values: pa.Array) -> Decoded:
        rows: dict[str, tuple[list[int], list, pa.DataType]] = {}
        failed = []
        for row, value in enumerate(values.to_pylist()):
            try:
                message = self.parsed(value)[1]
            except (IndexError, DecodeError, RuntimeWarning):
                failed.append(row)
                continue
            name = message.DESCRIPTOR.full_name
            if name not in rows:
                rows[name] = ([], [], self.converter.arrow_type(message.DESCRIPTOR))
            rows[name][0].append(row)
            rows[name][1].append(self.converter.value(message))
        return Decoded([(name, np.array(indices), pa.array(items, kind)) for name, (indices, items, kind) in rows.items()],
                       failed)
