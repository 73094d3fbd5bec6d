"""evkit/schemas/compat.py: the changes between two schemas of a subject and the verdict, checked
exactly, against the real registry's own verdict, and through the schema_drift check on a dataset
whose values are framed by schema ids (magic byte 0 + 4-byte big-endian id)."""
from __future__ import annotations

import json
import uuid

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

import evkit
from evkit.errors import DatasetError
from evkit.schemas.compat import compare, subject_changes
from evkit.schemas.store import StoredSchema, write_schema
from evkit.store.records import records_table
from evkit.store.writer import write_records


def avro(*fields: dict, name: str = "Bet") -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "evkit.test", "fields": list(fields)})


ID = {"name": "id", "type": "long"}
STAKE = {"name": "stake", "type": "double"}
V1 = avro(ID, STAKE)
# (new schema, expected changes, expected verdict) against V1
AVRO_CASES = {
    "field added with a default": (
        avro(ID, STAKE, {"name": "currency", "type": "string", "default": "EUR"}),
        [{"path": "$.currency", "change": "added", "from": None, "to": "string"}], "FULL"),
    "field added without a default": (
        avro(ID, STAKE, {"name": "currency", "type": "string"}),
        [{"path": "$.currency", "change": "default_missing", "from": None, "to": "string"}], "FORWARD"),
    "field removed": (
        avro(ID), [{"path": "$.stake", "change": "removed", "from": "double", "to": None}], "BACKWARD"),
    "type changed": (
        avro({"name": "id", "type": "string"}, STAKE),
        [{"path": "$.id", "change": "type_changed", "from": "long", "to": "string"}], "NONE"),
    "type promoted": (
        avro(ID, {"name": "stake", "type": "float"}),
        [{"path": "$.stake", "change": "type_changed", "from": "double", "to": "float"}], "FORWARD"),
    "nested record in a union gains a field": (
        avro(ID, STAKE, {"name": "market", "type": ["null", {"type": "record", "name": "Market", "fields": [
            {"name": "code", "type": "string"}, {"name": "live", "type": "boolean", "default": False}]}],
            "default": None}),
        [{"path": "$.market", "change": "added", "from": None, "to": "null|Market"}], "FULL"),
}


@pytest.mark.parametrize("case", AVRO_CASES)
def test_avro_changes_and_verdicts(case):
    new, changes, verdict = AVRO_CASES[case]
    found = compare("AVRO", V1, new)
    assert (found.changes, found.compatibility) == (changes, verdict)


def test_avro_nested_changes_enums_and_arrays():
    old = avro(ID, {"name": "legs", "type": {"type": "array", "items": {"type": "record", "name": "Leg", "fields": [
        {"name": "price", "type": "double"}]}}}, {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BACK"]}})
    new = avro(ID, {"name": "legs", "type": {"type": "array", "items": {"type": "record", "name": "Leg", "fields": [
        {"name": "price", "type": "string"}]}}}, {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BACK", "LAY"]}})
    found = compare("AVRO", old, new)
    assert found.changes == [
        {"path": "$.legs[*].price", "change": "type_changed", "from": "double", "to": "string"},
        {"path": "$.side", "change": "type_changed", "from": "enum Side{BACK}", "to": "enum Side{BACK,LAY}"}]
    assert found.compatibility == "NONE"
    assert compare("AVRO", avro(ID, {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BACK"]}}),
                   avro(ID, {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BACK", "LAY"]}})
                   ).compatibility == "BACKWARD"


def json_schema(properties: dict, required=(), closed: bool = False) -> str:
    return json.dumps({"type": "object", "properties": properties, "required": list(required),
                       **({"additionalProperties": False} if closed else {})})


def test_json_schema_changes_and_verdicts():
    base = {"id": {"type": "integer"}, "stake": {"type": "number"}}
    old = json_schema(base, ["id"])
    retyped = compare("JSON", old, json_schema({**base, "stake": {"type": "string"}}, ["id"]))
    assert (retyped.changes, retyped.compatibility) == (
        [{"path": "$.stake", "change": "type_changed", "from": "number", "to": "string"}], "NONE")
    required = compare("JSON", old, json_schema({**base, "currency": {"type": "string"}}, ["id", "currency"]))
    assert (required.changes, required.compatibility) == (
        [{"path": "$.currency", "change": "default_missing", "from": None, "to": "string"}], "FORWARD")
    assert compare("JSON", json_schema(base, ["id"], closed=True),
                   json_schema({**base, "currency": {"type": "string"}}, ["id"], closed=True)).compatibility == "BACKWARD"
    widened = compare("JSON", old, json_schema({**base, "id": {"type": "number"}}, ["id"]))
    assert widened.compatibility == "BACKWARD"


JSON_BASE = {"id": {"type": "integer"}, "stake": {"type": "number"}}
JSON_V1 = json_schema(JSON_BASE, ["id"])
JSON_CASES = [json_schema({**JSON_BASE, "stake": {"type": "string"}}, ["id"]),
              json_schema({**JSON_BASE, "currency": {"type": "string"}}, ["id", "currency"]),
              json_schema({**JSON_BASE, "currency": {"type": "string"}}, ["id"]),
              json_schema({"id": {"type": "integer"}}, ["id"]),
              json_schema({**JSON_BASE, "id": {"type": "number"}}, ["id"])]

PROTO_V1 = 'syntax = "proto3";\npackage evkit.test;\nmessage Bet {\n  int64 id = 1;\n  double stake = 2;\n}\n'


def test_protobuf_by_field_number_from_text_and_descriptor():
    added = compare("PROTOBUF", PROTO_V1, PROTO_V1.replace("double stake = 2;", "double stake = 2;\n  string currency = 3;"))
    assert (added.changes, added.compatibility) == (
        [{"path": "$.Bet.3", "change": "added", "from": None, "to": "string"}], "BACKWARD")
    retyped = compare("PROTOBUF", PROTO_V1, PROTO_V1.replace("double stake", "string stake"))
    assert (retyped.changes, retyped.compatibility) == (
        [{"path": "$.Bet.2", "change": "type_changed", "from": "double", "to": "string"}], "NONE")
    from google.protobuf import descriptor_pb2
    proto = descriptor_pb2.FileDescriptorProto(name="bet.proto", package="evkit.test", syntax="proto3")
    message = proto.message_type.add(name="Bet")
    message.field.add(name="id", number=1, type=3, label=1)
    message.field.add(name="stake", number=2, type=9, label=1)
    import base64
    assert compare("PROTOBUF", PROTO_V1, base64.b64encode(proto.SerializeToString()).decode()) == retyped


def test_not_a_schema_is_a_one_line_dataset_error():
    with pytest.raises(DatasetError, match=r"^not a valid AVRO schema \("):
        compare("AVRO", V1, "{not json")


# The registry's own verdict: for each change, the level the registry accepts equals ours.
@pytest.mark.parametrize("schema_type, old, new", [
    *[("AVRO", V1, AVRO_CASES[case][0]) for case in AVRO_CASES],
    ("PROTOBUF", PROTO_V1, PROTO_V1.replace("double stake = 2;", "double stake = 2;\n  string currency = 3;")),
    ("PROTOBUF", PROTO_V1, PROTO_V1.replace("double stake", "string stake")),
    *[("JSON", JSON_V1, new) for new in JSON_CASES],
])
def test_verdicts_agree_with_the_real_registry(schema_registry, schema_type, old, new):
    registry = SchemaRegistryClient({"url": schema_registry})
    verdict = compare(schema_type, old, new).compatibility
    # Apicurio 2.6 accepts under FULL a Protobuf field it refuses under FORWARD (FULL checks one way
    # only for Protobuf), so FULL is compared for Avro and JSON Schema, where it means both ways.
    for level in ("BACKWARD", "FORWARD") + (("FULL",) if schema_type != "PROTOBUF" else ()):
        subject = f"compat-{uuid.uuid4().hex[:12]}-value"
        registry.set_compatibility(subject, level)
        registry.register_schema(subject, Schema(old, schema_type))
        accepted = registry.test_compatibility(subject, Schema(new, schema_type))
        assert accepted == (verdict == level or verdict == "FULL"), (level, verdict)


def framed(schema_id: int, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + payload


def test_schema_drift_reports_each_new_schema_id_of_a_subject(tmp_path):
    """Subject bets-value: id 1 (V1) then, from 19:00:10, id 2 (id retyped: NONE) on both partitions."""
    new, changes, _ = AVRO_CASES["type changed"]
    rows = [{"topic": "bets", "partition": n % 2, "offset": n // 2, "timestamp": 1_763_838_000_000 + 1000 * n,
             "key": b"k", "value": framed(1 if n < 10 else 2, b"payload"), "headers": [("producer", b"bet-service")]}
            for n in range(16)]
    write_records(tmp_path, records_table(rows), ranges={("bets", 0): (0, 8), ("bets", 1): (0, 8)})
    for schema_id, text in ((1, V1), (2, new)):
        write_schema(tmp_path, StoredSchema(schema_id, "bets-value", schema_id, "AVRO", text))
    assert subject_changes({1: StoredSchema(1, "bets-value", 1, "AVRO", V1),
                            2: StoredSchema(2, "bets-value", 2, "AVRO", new)}) == [
        {"schema_id": 2, "subject": "bets-value", "previous_id": 1, "changes": changes, "compatibility": "NONE"}]
    report = evkit.check(tmp_path, checks="schema_drift", quiet=True)
    assert [(f["severity"], f["topic"], f["partition"], f["offsets"], f["first_ts"], f["last_ts"]) for f in report.findings] == [
        ("warning", "bets", 0, [5], "2025-11-22T19:00:10.000Z", "2025-11-22T19:00:14.000Z"),
        ("warning", "bets", 1, [5], "2025-11-22T19:00:11.000Z", "2025-11-22T19:00:15.000Z")]
    facts = [f["facts"] for f in report.findings]
    assert facts[0] == {**facts[1], "records": 3} and facts[1] == {
        "subject": "bets-value", "producer": "bet-service", "change_id": facts[0]["change_id"], "changes": changes,
        "compatibility": "NONE", "records": 3}
    assert report.findings[0]["detail"] == (
        "bets/0 from offset 5: producer bet-service moved subject bets-value from schema id 1 to 2 "
        "(NONE compatible: neither way): $.id long -> string; 3 records here")


def test_schema_drift_on_json_values_reports_the_deploy_not_the_optional_field(tmp_path):
    """40 values of producer odds: from the 21st `price` is a string and `currency` appears; `note`, in
    one value in five from the start, is optional and never reported."""
    rows = []
    for n in range(40):
        data = {"price": f"{1.5 + n:.2f}" if n >= 20 else 1.5 + n, **({"currency": "EUR"} if n >= 20 else {}),
                **({"note": "x"} if n % 5 == 3 else {})}
        rows.append({"topic": "odds", "partition": n % 2, "offset": n // 2, "timestamp": 1_763_838_000_000 + 1000 * n,
                     "key": b"m", "value": json.dumps({"type": "odds_updated", "data": data}).encode(),
                     "headers": [("producer", b"odds-engine")]})
    write_records(tmp_path, records_table(rows), ranges={("odds", 0): (0, 20), ("odds", 1): (0, 20)})
    report = evkit.check(tmp_path, checks="schema_drift", fields={"event_type": "$.type"}, quiet=True)
    changes = [{"path": "$.data.currency", "change": "added", "from": None, "to": "string"},
               {"path": "$.data.price", "change": "type_changed", "from": "number", "to": "string"}]
    assert [(f["severity"], f["partition"], f["offsets"], f["facts"]["records"], f["facts"]["changes"])
            for f in report.findings] == [("warning", 0, [10], 10, changes), ("warning", 1, [10], 10, changes)]
    assert report.findings[0]["detail"] == (
        "odds/0 from offset 10: producer odds-engine (event type odds_updated) changed its JSON values: "
        "$.data.currency added (string), $.data.price number -> string; 10 records here")
    assert {f["facts"]["change_id"] for f in report.findings} == {report.findings[1]["facts"]["change_id"]}
