"""Avro, Protobuf and JSON Schema topics analysed like JSON: real topics on the real broker, produced
with confluent-kafka's own serializers against the real Schema Registry (Apicurio), dumped, and
checked with the registry out of the picture (only the schemas stored in the dataset are read).

One event stream is produced four times: as JSON and in the three registry formats. `evkit check`
must find the same duplicate (by a decoded event id), the same sequence gap (by a decoded counter)
and read event time from a logical timestamp (Avro timestamp-millis, Protobuf Timestamp)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext, StringSerializer
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2

import evkit

pytestmark = pytest.mark.broker

BASE = datetime(2026, 11, 27, 15, 0, tzinfo=timezone.utc)
FIELDS = {"event_id": "$.bet_id", "sequence": "$.seq", "event_time": "$.ts", "entity": "$.user"}
AVRO_VALUE = json.dumps({"type": "record", "name": "Bet", "namespace": "evkit.test", "fields": [
    {"name": "bet_id", "type": "string"}, {"name": "user", "type": "string"}, {"name": "seq", "type": "long"},
    {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "stake", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]})
JSON_SCHEMA = json.dumps({"type": "object", "properties": {
    "bet_id": {"type": "string"}, "user": {"type": "string"}, "seq": {"type": "integer"},
    "ts": {"type": "string", "format": "date-time"}, "stake": {"type": "number"}}})


def events() -> list[dict]:
    """u1 skips seq 5 (a lost event); u2's seq 3 is sent twice (a duplicate of one bet_id)."""
    out = []
    for seq in range(8):
        for user in ("u0", "u1", "u2"):
            if user == "u1" and seq == 5:
                continue
            copies = 2 if user == "u2" and seq == 3 else 1
            out += [{"bet_id": f"{user}-{seq}", "user": user, "seq": seq,
                     "ts": BASE + timedelta(seconds=10 * seq + int(user[1]))}] * copies
    return out


def bet_message_class():
    """A Protobuf Bet message built at run time (no protoc here): bet_id, user, seq, a Timestamp ts."""
    proto = descriptor_pb2.FileDescriptorProto(name="evkit_test_bet.proto", package="evkit.test", syntax="proto3",
                                               dependency=["google/protobuf/timestamp.proto"])
    message = proto.message_type.add(name="Bet")
    F = descriptor_pb2.FieldDescriptorProto
    for number, (name, kind) in enumerate([("bet_id", F.TYPE_STRING), ("user", F.TYPE_STRING),
                                           ("seq", F.TYPE_INT64), ("ts", F.TYPE_MESSAGE)], start=1):
        message.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL,
                          type_name=".google.protobuf.Timestamp" if kind == F.TYPE_MESSAGE else None)
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName("evkit.test.Bet")
    except KeyError:
        descriptor = pool.Add(proto) and pool.FindMessageTypeByName("evkit.test.Bet")
    return message_factory.GetMessageClass(descriptor)


def serialized(kind: str, client: SchemaRegistryClient):
    """(key serializer, value serializer, value of an event) for one format."""
    text = StringSerializer()
    if kind == "json":
        return text, lambda value, ctx: json.dumps(value).encode(), lambda e: {**e, "ts": e["ts"].isoformat()}
    if kind == "avro":
        key = AvroSerializer(client, '"string"')
        return key, AvroSerializer(client, AVRO_VALUE), lambda e: {**e, "stake": __import__("decimal").Decimal("2.50")}
    if kind == "protobuf":
        cls = bet_message_class()

        def message(e):
            ts = timestamp_pb2.Timestamp()
            ts.FromDatetime(e["ts"])
            return cls(bet_id=e["bet_id"], user=e["user"], seq=e["seq"], ts=ts)
        return text, ProtobufSerializer(cls, client, {"use.deprecated.format": False}), message
    return text, JSONSerializer(JSON_SCHEMA, client), lambda e: {**e, "ts": e["ts"].isoformat(), "stake": 2.5}


def store_schemas(root, client: SchemaRegistryClient, framed: list[bytes]) -> None:
    """Store the schemas the dump met as `_evkit/schemas/<id>.json` (the dump's `--schema-registry`
    does this; written here from the registry so that this test stands alone)."""
    directory = root / "_evkit" / "schemas"
    directory.mkdir(parents=True, exist_ok=True)
    for schema_id in {int.from_bytes(v[1:5], "big") for v in framed if v and v[0] == 0}:
        schema = client.get_schema(schema_id)
        (directory / f"{schema_id}.json").write_text(json.dumps({
            "id": schema_id, "subject": None, "version": None, "schema_type": schema.schema_type or "AVRO",
            "schema": schema.schema_str, "references": []}))


@pytest.fixture(scope="module")
def dumped(bootstrap, admin, schema_registry, tmp_path_factory):
    """One dataset with the four topics, schemas stored; the registry client is closed before analysis."""
    from conftest import wait_for_leaders
    from confluent_kafka.admin import NewTopic
    import uuid

    client = SchemaRegistryClient({"url": schema_registry})
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    topics = {}
    for kind in ("json", "avro", "protobuf", "json_schema"):
        name = f"decoders-{kind.replace('_', '-')}-{uuid.uuid4().hex[:8]}"
        admin.create_topics([NewTopic(name, 1, 1)])[name].result(30)
        wait_for_leaders(admin, name, 1)
        key_serializer, value_serializer, to_value = serialized(kind, client)
        for event in events():
            producer.produce(name, key=key_serializer(event["user"], SerializationContext(name, MessageField.KEY)),
                             value=value_serializer(to_value(event), SerializationContext(name, MessageField.VALUE)))
        producer.flush(30)
        topics[kind] = name
    root = tmp_path_factory.mktemp("decoders") / "ds"
    evkit.dump(bootstrap=bootstrap, out=root, topics=list(topics.values()), quiet=True)
    with evkit.open(root, quiet=True) as analysis:
        values = [v for (v,) in analysis.sql("SELECT key FROM records UNION ALL SELECT value FROM records").fetchall()]
    store_schemas(root, client, values)
    return root, topics


def comparable(findings: list[dict], topic: str) -> list[tuple]:
    """Findings of one topic without what depends on when it was produced (broker times in the detail)."""
    return sorted((f["check"], f["severity"], f["offsets"], f["event_ids"], f["detail"].split(" at ")[0].replace(topic, "T"))
                  for f in findings if f["topic"] == topic and f["check"] != "field_coverage")


def test_avro_protobuf_and_json_schema_topics_give_the_findings_of_json(dumped):
    root, topics = dumped
    report = evkit.check(root, fields=FIELDS, checks=["duplicate", "sequence_gap", "out_of_order"], quiet=True)
    findings = report.findings
    expected = comparable(findings, topics["json"])
    assert expected == [
        ("duplicate", "warning", [11, 12], ["u2-3"], "logical duplicate: event_id u2-3 stored 2 times"),
        ("sequence_gap", "info", [14, 19], ["u1-4", "u1-6"], "unseen: entity u1 of T misses sequence 5..5 (1 events) between 4")]
    for kind in ("avro", "protobuf", "json_schema"):
        assert comparable(findings, topics[kind]) == expected, kind
    assert [row for row in report.coverage if row[2] in ("$.bet_id", "$.seq", "$.ts", "$.user")
            and (row[6] or row[7] or row[8])] == []


def test_decoded_values_are_typed_and_event_time_comes_from_the_logical_timestamp(dumped):
    root, topics = dumped
    with evkit.open(root, fields=FIELDS, quiet=True) as analysis:
        for kind in ("json", "avro", "protobuf", "json_schema"):
            assert analysis.sql(f"SELECT event_id, entity, sequence, event_time FROM events WHERE topic = '{topics[kind]}' "
                                'ORDER BY "offset" LIMIT 2').fetchall() == [
                ("u0-0", "u0", 0, BASE), ("u1-0", "u1", 0, BASE + timedelta(seconds=1))], kind
        avro = analysis.values(topics["avro"])
        assert dict(zip(avro.columns, map(str, avro.types))) == {
            "partition": "INTEGER", "offset": "BIGINT", "schema_id": "BIGINT", "bet_id": "VARCHAR", "user": "VARCHAR",
            "seq": "BIGINT", "ts": "TIMESTAMP WITH TIME ZONE", "stake": "DECIMAL(9,2)"}
        proto = analysis.values(topics["protobuf"])
        assert dict(zip(proto.columns, map(str, proto.types)))["ts"] == "TIMESTAMP WITH TIME ZONE"
        assert [row[-1] for row in analysis.values(topics["avro"], key=True).fetchall()][:4] == ["u0", "u1", "u2", "u0"]
        assert analysis.sql("SELECT count(*) FROM decode_failures").fetchall() == [(0,)]
