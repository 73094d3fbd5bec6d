"""The test Schema Registry is real and usable as issue 13's decoding tests will use it.

The `schema_registry` fixture runs Apicurio Registry (kafka/registryctl.py) and hands over its
Confluent-compatible API. Here confluent-kafka's own SchemaRegistryClient and its Avro, Protobuf and
JSON Schema serializers talk to it; the records go through the real broker and come back; the
bytes on the topic are checked against the Confluent wire format (magic byte 0, the 4-byte
big-endian schema id, then the payload) independently of the deserializers.
"""
from __future__ import annotations

import base64
import json
import struct
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, SerializationError
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

pytestmark = pytest.mark.broker

ORDER_V1 = {
    "type": "record", "name": "Order", "namespace": "evkit.test",
    "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}],
}
# BACKWARD-compatible: a reader on v2 can read v1 data, the new field taking its default.
ORDER_V2 = {**ORDER_V1, "fields": [*ORDER_V1["fields"], {"name": "currency", "type": "string", "default": "EUR"}]}
# Not BACKWARD-compatible: a string reader cannot read the long that v1 and v2 wrote.
ORDER_ID_AS_STRING = {**ORDER_V2, "fields": [{"name": "id", "type": "string"}, *ORDER_V2["fields"][1:]]}


@pytest.fixture
def registry(schema_registry) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": schema_registry})


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i, value in enumerate(values):
        producer.produce(topic, key=str(i).encode(), value=value)
    assert producer.flush(30) == 0


def consume(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"evkit-test-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    consumer.assign([TopicPartition(topic, 0, 0)])
    got = []
    try:
        while len(got) < count:
            batch = consumer.consume(count - len(got), timeout=10)
            assert batch, f"only {len(got)} of {count} records came back from {topic}"
            for msg in batch:
                assert msg.error() is None, msg.error()
                got.append(msg)
    finally:
        consumer.close()
    return got


def split_wire(value: bytes) -> tuple[int, int, bytes]:
    """(magic byte, schema id, payload) of a Confluent-framed value."""
    magic, schema_id = struct.unpack(">bI", value[:5])
    return magic, schema_id, value[5:]


def test_avro_evolves_backward_and_rejects_a_type_change(registry, bootstrap, make_topic):
    topic = make_topic()
    subject = f"{topic}-value"  # TopicNameStrategy, the serializers' default
    ctx = SerializationContext(topic, MessageField.VALUE)

    v1_serializer = AvroSerializer(registry, json.dumps(ORDER_V1))
    first = v1_serializer({"id": 7, "amount": 12.5}, ctx)  # registers v1 under the subject
    v1 = registry.lookup_schema(subject, Schema(json.dumps(ORDER_V1), "AVRO"))
    v1_id = v1.schema_id
    assert v1.version == 1

    # Apicurio's global default is NONE (Confluent's is BACKWARD): the test names the level it relies on.
    assert registry.set_compatibility(subject, "BACKWARD") == {"compatibility": "BACKWARD"}
    assert registry.get_compatibility(subject) == "BACKWARD"
    assert registry.test_compatibility(subject, Schema(json.dumps(ORDER_V2), "AVRO")) is True
    assert registry.test_compatibility(subject, Schema(json.dumps(ORDER_ID_AS_STRING), "AVRO")) is False

    v2_serializer = AvroSerializer(registry, json.dumps(ORDER_V2))
    second = v2_serializer({"id": 8, "amount": 0.25, "currency": "USD"}, ctx)  # registers v2: accepted
    # (lookup_schema, not get_latest_version: the client caches the latest version it has seen.)
    v2 = registry.lookup_schema(subject, Schema(json.dumps(ORDER_V2), "AVRO"))
    assert (v2.version, registry.get_versions(subject)) == (2, [1, 2])
    assert v2.schema_id != v1_id

    with pytest.raises(SchemaRegistryError) as rejected:
        registry.register_schema(subject, Schema(json.dumps(ORDER_ID_AS_STRING), "AVRO"))
    # The same answer as Confluent's registry: HTTP 409, error code 409, and nothing registered.
    assert (rejected.value.http_status_code, rejected.value.error_code) == (409, 409)
    assert "Incompatible" in rejected.value.error_message
    with pytest.raises(SchemaRegistryError) as refused:  # a producer's auto-registration gets the same answer
        AvroSerializer(registry, json.dumps(ORDER_ID_AS_STRING))({"id": "9", "amount": 1.0, "currency": "EUR"}, ctx)
    assert refused.value.http_status_code == 409
    assert registry.get_versions(subject) == [1, 2]

    # The wire format, byte for byte: magic 0, schema id, Avro binary (zigzag varint long,
    # little-endian double, zigzag-length-prefixed UTF-8 string).
    assert split_wire(first) == (0, v1_id, b"\x0e" + struct.pack("<d", 12.5))
    assert split_wire(second) == (0, v2.schema_id, b"\x10" + struct.pack("<d", 0.25) + b"\x06USD")

    produce(bootstrap, topic, [first, second])
    got = consume(bootstrap, topic, 2)
    assert [m.value() for m in got] == [first, second]
    assert [m.headers() for m in got] == [None, None]  # the schema id travels in the prefix, not in headers

    # Each record read with its own writer schema, then both with v2 as the reader schema:
    # the v1 record gains the default.
    as_written = AvroDeserializer(registry)
    assert [as_written(m.value(), ctx) for m in got] == [
        {"id": 7, "amount": 12.5}, {"id": 8, "amount": 0.25, "currency": "USD"}]
    as_v2 = AvroDeserializer(registry, json.dumps(ORDER_V2))
    assert [as_v2(m.value(), ctx) for m in got] == [
        {"id": 7, "amount": 12.5, "currency": "EUR"}, {"id": 8, "amount": 0.25, "currency": "USD"}]
    assert json.loads(registry.get_schema(v1_id).schema_str) == ORDER_V1


def payment_class():
    """A protobuf message class built from a descriptor at test time (no protoc, no generated module):

        syntax = "proto3"; package evkit.test;
        message Payment { string id = 1; int64 amount_cents = 2; repeated string tags = 3; }
    """
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(name=f"evkit/test/payment_{uuid.uuid4().hex[:8]}.proto",
                                               package="evkit.test", syntax="proto3")
    message = proto.message_type.add(name="Payment")
    message.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    message.field.add(name="amount_cents", number=2, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    message.field.add(name="tags", number=3, type=field.TYPE_STRING, label=field.LABEL_REPEATED)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("evkit.test.Payment"))


def test_protobuf_round_trip(registry, bootstrap, make_topic):
    Payment = payment_class()
    topic = make_topic()
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = ProtobufSerializer(Payment, registry, {"use.deprecated.format": False})
    sent = [Payment(id="p-1", amount_cents=1999, tags=["card", "eu"]), Payment(id="p-2", amount_cents=-5)]
    values = [serializer(msg, ctx) for msg in sent]

    registered = registry.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "PROTOBUF"
    # Apicurio keeps the schema as the client sent it: confluent-kafka sends the serialized
    # FileDescriptorProto in base64 (Confluent's registry would answer with .proto text instead).
    stored = descriptor_pb2.FileDescriptorProto.FromString(
        base64.b64decode(registry.get_schema(registered.schema_id).schema_str))
    assert stored == descriptor_pb2.FileDescriptorProto.FromString(Payment.DESCRIPTOR.file.serialized_pb)
    assert [f.name for f in stored.message_type[0].field] == ["id", "amount_cents", "tags"]
    for value, msg in zip(values, sent):
        magic, schema_id, payload = split_wire(value)
        # After the id, the message indexes (a single 0: the first message of the file), then the message.
        assert (magic, schema_id, payload) == (0, registered.schema_id, b"\x00" + msg.SerializeToString())

    produce(bootstrap, topic, values)
    got = consume(bootstrap, topic, len(sent))
    assert [m.value() for m in got] == values
    deserializer = ProtobufDeserializer(Payment, {"use.deprecated.format": False}, registry)
    back = [deserializer(m.value(), ctx) for m in got]
    assert back == sent
    assert [(p.id, p.amount_cents, list(p.tags)) for p in back] == [("p-1", 1999, ["card", "eu"]), ("p-2", -5, [])]


PAYMENT_JSON_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Refund",
    "type": "object",
    "properties": {"id": {"type": "string"}, "amount": {"type": "number"}, "reason": {"type": ["string", "null"]}},
    "required": ["id", "amount"],
    "additionalProperties": False,
}


def test_json_schema_round_trip_and_validation(registry, bootstrap, make_topic):
    topic = make_topic()
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = JSONSerializer(json.dumps(PAYMENT_JSON_SCHEMA), registry)
    sent = [{"id": "r-1", "amount": 10.5, "reason": "damaged"}, {"id": "r-2", "amount": 3, "reason": None}]
    values = [serializer(doc, ctx) for doc in sent]
    with pytest.raises(SerializationError):  # validated against the schema before anything is written
        serializer({"id": "r-3"}, ctx)

    registered = registry.get_latest_version(f"{topic}-value")
    assert registered.schema.schema_type == "JSON"
    assert json.loads(registry.get_schema(registered.schema_id).schema_str) == PAYMENT_JSON_SCHEMA
    for value, doc in zip(values, sent):
        magic, schema_id, payload = split_wire(value)
        assert (magic, schema_id, json.loads(payload)) == (0, registered.schema_id, doc)

    produce(bootstrap, topic, values)
    got = consume(bootstrap, topic, len(sent))
    deserializer = JSONDeserializer(None, schema_registry_client=registry)
    assert [deserializer(m.value(), ctx) for m in got] == sent
