"""Masking Protobuf values by field: exact masked messages behind the same frame bytes (message indexes
as they were), the checks unchanged on the masked dataset, what drop clears, rules a field's type
cannot hold refused before anything is written, no raw string anywhere. The schemas are serialized
FileDescriptorProtos built here (no protoc), stored as a registry stores them."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2, wrappers_pb2

import evkit
from evkit.schemas.store import StoredSchema
from evkit.share.mask import MARKER
from support.dumping import dataset_rows
from test_mask import assert_nowhere, checks_alike, decode_failures, mask_cli, mask_topics, write_topic
from test_mask import h as hashed

KEY = b"k" * 32
BASE_MS = 1_764_000_000_000
FD = descriptor_pb2.FieldDescriptorProto
FIRST, FIRST_LONG, SECOND, UNKNOWN = b"\x00", b"\x02\x00", b"\x02\x02", b"\x02\x0a"  # message indexes [0], [0], [1], [5]
RULES = {
    "defaults": {"key": "hash"},
    "topics": {
        "bets": {"$.id": "keep", "$.user_id": "hash", "$.email": "drop", "$.card": "redact_same_size", "$.token": "hash",
                 "$.tags.user_*": "hash", "$.items[*].sku": "hash", "$.notes[*]": "redact", "$.nickname": "hash",
                 "$.card_payment.number": "redact", "$.iban": "drop"},
        "payments": {"otherwise": "redact", "$.count": "keep"},
    },
}


def file_proto(version: int) -> descriptor_pb2.FileDescriptorProto:
    """masktest.Bet (version 2 adds `channel`) and masktest.Payment, the second message type."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="masktest.proto", package="masktest", syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"])
    bet = proto.message_type.add(name="Bet")
    bet.nested_type.add(name="Item").field.extend([
        FD(name="sku", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL),
        FD(name="n", number=2, type=FD.TYPE_INT32, label=FD.LABEL_OPTIONAL)])
    bet.nested_type.add(name="Card").field.add(name="number", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)
    entry = bet.nested_type.add(name="TagsEntry")
    entry.options.map_entry = True
    entry.field.extend([FD(name="key", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL),
                        FD(name="value", number=2, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)])
    bet.enum_type.add(name="Side").value.extend([descriptor_pb2.EnumValueDescriptorProto(name="BACK", number=0),
                                                 descriptor_pb2.EnumValueDescriptorProto(name="LAY", number=1)])
    bet.oneof_decl.add(name="method")
    bet.oneof_decl.add(name="_email")
    single, repeated = FD.LABEL_OPTIONAL, FD.LABEL_REPEATED
    for number, (name, kind, label, type_name) in enumerate([
            ("id", FD.TYPE_STRING, single, None), ("user_id", FD.TYPE_STRING, single, None),
            ("email", FD.TYPE_STRING, single, None), ("card", FD.TYPE_STRING, single, None),
            ("token", FD.TYPE_BYTES, single, None), ("amount", FD.TYPE_DOUBLE, single, None),
            ("placed_at", FD.TYPE_MESSAGE, single, ".google.protobuf.Timestamp"),
            ("side", FD.TYPE_ENUM, single, ".masktest.Bet.Side"), ("tags", FD.TYPE_MESSAGE, repeated, ".masktest.Bet.TagsEntry"),
            ("items", FD.TYPE_MESSAGE, repeated, ".masktest.Bet.Item"), ("notes", FD.TYPE_STRING, repeated, None),
            ("nickname", FD.TYPE_MESSAGE, single, ".google.protobuf.StringValue"),
            ("card_payment", FD.TYPE_MESSAGE, single, ".masktest.Bet.Card"), ("iban", FD.TYPE_STRING, single, None),
            *([("channel", FD.TYPE_STRING, single, None)] if version == 2 else [])], start=1):
        field = bet.field.add(name=name, number=number, type=kind, label=label, type_name=type_name)
        if name == "email":
            field.oneof_index, field.proto3_optional = 1, True
        elif name in ("card_payment", "iban"):
            field.oneof_index = 0
    proto.message_type.add(name="Payment").field.extend([
        FD(name="payer", number=1, type=FD.TYPE_STRING, label=single),
        FD(name="count", number=2, type=FD.TYPE_INT32, label=single),
        FD(name="tags", number=3, type=FD.TYPE_STRING, label=repeated)])
    return proto


def message_classes(version: int) -> dict[str, type]:
    """The message classes of one version, in a pool of their own (both versions name masktest.Bet)."""
    pool = descriptor_pool.DescriptorPool()
    for well_known in (timestamp_pb2, wrappers_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(well_known.DESCRIPTOR.serialized_pb))
    pool.Add(file_proto(version))
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"masktest.{name}")) for name in ("Bet", "Payment")}


CLASSES = {7: message_classes(1), 8: message_classes(2)}
SCHEMAS = {7: StoredSchema(7, "bets-value", 1, "PROTOBUF", base64.b64encode(file_proto(1).SerializeToString()).decode()),
           8: StoredSchema(8, "bets-value", 2, "PROTOBUF", base64.b64encode(file_proto(2).SerializeToString()).decode()),
           11: StoredSchema(11, "text-value", 1, "PROTOBUF", 'syntax = "proto3"; message X { string a = 1; }')}


def h(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


def bet(n: int, schema_id: int = 7, **fields):
    """A Bet message; `fields` replace (None: unset) the defaults."""
    placed_at = datetime.fromtimestamp((BASE_MS + n) / 1000, UTC)
    values = {"id": f"b{n}", "user_id": "user-17", "email": "alice@example.org", "card": "4111-1111", "token": b"tok-secret",
              "amount": 12.5, "placed_at": placed_at, "side": 1, "tags": {"user_email": "alice@example.org", "source": "app"},
              "items": [{"sku": "SKU-981", "n": 2}], "notes": ["call 555-0100", "vip"],
              "nickname": {"value": "Ally-L"}, "card_payment": {"number": "5500-0000"}, **fields}
    return CLASSES[schema_id]["Bet"](**{name: value for name, value in values.items() if value is not None})


def framed(schema_id: int, indexes: bytes, payload: bytes) -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + indexes + payload


UNKNOWN_FIELD = b"\x9a\x06\x0eunknown-secret"  # field 99 (no field of the schema), length 14


def raw_values() -> list[tuple[str, bytes | None]]:
    payment = CLASSES[7]["Payment"](payer="Alice Liddell", count=3, tags=["vip", "late"]).SerializeToString()
    return [("bets", framed(7, FIRST, bet(0).SerializeToString())),
            ("bets", framed(7, FIRST_LONG, bet(1, email=None, nickname=None, card_payment=None, iban="DE89-3704")
                            .SerializeToString())),
            ("bets", framed(7, FIRST, bet(0).SerializeToString())),
            ("bets", framed(7, FIRST, bet(3).SerializeToString()[:-3])),  # corrupt: truncated
            ("bets", json.dumps({"id": "j1", "user_id": "user-17"}).encode()), ("bets", None), ("bets", b""),
            ("bets", framed(8, FIRST, bet(8, 8, channel="kiosk").SerializeToString() + UNKNOWN_FIELD)),
            ("bets", framed(8, FIRST, bet(9, 8, channel="kiosk").SerializeToString())),
            ("payments", framed(7, SECOND, payment)),
            ("payments", framed(11, FIRST, b"\x0a\x0bAlice Text!")),  # a .proto text schema: not readable here
            ("payments", framed(7, UNKNOWN, bet(4).SerializeToString()))]  # no message type at index 5


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    return mask_topics(tmp_path_factory.mktemp("mask_protobuf"), raw_values(), list(SCHEMAS.values()), RULES)


def parsed(value: bytes, frame: bytes, name: str = "Bet"):
    """The message behind the expected frame bytes."""
    assert value[:len(frame)] == frame
    return CLASSES[int.from_bytes(value[1:5], "big")][name].FromString(value[len(frame):])


def masked_bet(n: int, schema_id: int = 7, **fields):
    return bet(n, schema_id, **{
        "user_id": h("user-17"), "email": None, "card": "*" * 9, "token": h("tok-secret").encode(),
        "tags": {"user_email": h("alice@example.org"), "source": "app"}, "items": [{"sku": h("SKU-981"), "n": 2}],
        "notes": [MARKER, MARKER], "nickname": {"value": h("Ally-L")},
        "card_payment": {"number": MARKER}, **fields})


def test_protobuf_fields_are_masked_exactly_behind_the_same_frame(masked):
    rows = dataset_rows(masked / "masked-bets") + dataset_rows(masked / "masked-payments")
    values = [r["value"] for r in rows]
    assert {r["key"] for r in rows} == {h("user-17").encode()}
    assert parsed(values[0], b"\x00\x00\x00\x00\x07" + FIRST) == masked_bet(0)
    assert not parsed(values[0], b"\x00\x00\x00\x00\x07" + FIRST).HasField("email")
    assert parsed(values[1], b"\x00\x00\x00\x00\x07" + FIRST_LONG) == masked_bet(  # the oneof's iban dropped: unset
        1, email=None, nickname=None, card_payment=None)
    assert parsed(values[1], b"\x00\x00\x00\x00\x07" + FIRST_LONG).WhichOneof("method") is None
    assert values[2] == values[0]  # equal values stay equal
    corrupt = raw_values()[3][1]
    assert values[3:7] == [hashed(corrupt),  # corrupt, otherwise = keep: hashed whole (distinct stays distinct), never raw
                           json.dumps({"id": "j1", "user_id": h("user-17")}, separators=(",", ":")).encode(), None, b""]
    assert parsed(values[7], b"\x00\x00\x00\x00\x08" + FIRST) == masked_bet(8, 8, channel="kiosk")  # the unknown field removed
    assert values[7] == framed(8, FIRST, masked_bet(8, 8, channel="kiosk").SerializeToString(deterministic=True))
    assert parsed(values[9], b"\x00\x00\x00\x00\x07" + SECOND, "Payment") == CLASSES[7]["Payment"](
        payer=MARKER, count=3, tags=[MARKER, MARKER])  # otherwise = redact, message index [1]
    assert values[10:] == [MARKER.encode(), MARKER.encode()]  # a schema that cannot be read, no message type at index 5
    schemas = sorted(p.name for p in (masked / "masked-bets" / "_evkit" / "schemas").iterdir())
    assert schemas == ["11.json", "7.json", "8.json"]


def test_checks_find_on_the_masked_dataset_what_they_find_on_the_raw_one(masked):
    config = {"topics": {"bets": {"value_format": "protobuf", "event_id": "$.id", "event_time": "$.placed_at"}}}

    assert checks_alike(masked / "raw-bets", masked / "masked-bets", config) == ["duplicate", "schema_drift"]

    def events(name: str) -> list[tuple]:
        with evkit.open(masked / name, config=config, quiet=True) as ds:
            return ds.sql("SELECT event_id, event_time FROM events WHERE topic = 'bets' ORDER BY \"offset\"").fetchall()

    assert events("masked-bets") == events("raw-bets")
    assert [event_id for event_id, _ in events("masked-bets")] == ["b0", "b1", "b0", None, None, None, None, "b8", "b9"]
    assert decode_failures(masked / "masked-bets", config, "bets") == [
        (3, None, "wrong_magic_byte"), (4, None, "wrong_magic_byte"), (6, None, "wrong_magic_byte")]
    assert decode_failures(masked / "raw-bets", config, "bets")[0] == (3, 7, "corrupt_payload")


def test_no_raw_protobuf_string_survives_in_any_byte(masked):
    secrets = [b"user-17", b"alice@example.org", b"4111-1111", b"tok-secret", b"SKU-981", b"555-0100", b"Ally-L",
               b"5500-0000", b"DE89-3704", b"unknown-secret", b"Alice Liddell", b"vip", b"Alice Text"]
    assert_nowhere(masked / "masked-bets", secrets, kept=[b"kiosk", b"app"])
    assert_nowhere(masked / "masked-payments", secrets, kept=[b"payments"])


def test_drop_clears_the_field(tmp_path):
    """drop: a proto3 scalar back to its default (absent), a message or `optional` field unset, a
    repeated field or map emptied, a map entry removed."""
    write_topic(tmp_path / "raw", "bets", [framed(7, FIRST, bet(0).SerializeToString())], [SCHEMAS[7]])
    rules = {"topics": {"bets": {"$.id": "drop", "$.amount": "drop", "$.placed_at": "drop", "$.side": "drop",
                                 "$.email": "drop", "$.items": "drop", "$.notes[*]": "drop", "$.tags.source": "drop",
                                 "$.nickname": "drop", "$.card_payment": "drop"}}}
    evkit.mask(tmp_path / "raw", out=tmp_path / "masked", rules=rules, key=KEY, quiet=True)
    value = dataset_rows(tmp_path / "masked")[0]["value"]
    assert parsed(value, b"\x00\x00\x00\x00\x07" + FIRST) == bet(
        0, id="", amount=0, placed_at=None, side=0, email=None, items=[], notes=[],
        tags={"user_email": "alice@example.org"}, nickname=None, card_payment=None)


def test_a_schema_that_declares_extensions_has_its_values_masked_whole(tmp_path):
    """A proto2 extension is a field the walk does not see: never kept raw."""
    proto = descriptor_pb2.FileDescriptorProto(name="ext.proto", package="ext", syntax="proto2")
    message = proto.message_type.add(name="Note")
    message.field.add(name="id", number=1, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL)
    message.extension_range.add(start=100, end=200)
    proto.extension.add(name="secret", number=100, type=FD.TYPE_STRING, label=FD.LABEL_OPTIONAL, extendee=".ext.Note")
    schema = StoredSchema(12, "notes-value", 1, "PROTOBUF", base64.b64encode(proto.SerializeToString()).decode())
    write_topic(tmp_path / "raw", "notes", [framed(12, FIRST, b"\x0a\x02n1\xa2\x06\x08ext-text")], [schema])
    evkit.mask(tmp_path / "raw", out=tmp_path / "masked", rules={"defaults": {"$.id": "keep"}}, key=KEY, quiet=True)
    assert [r["value"] for r in dataset_rows(tmp_path / "masked")] == [
        hashed(framed(12, FIRST, b"\x0a\x02n1\xa2\x06\x08ext-text"))]  # otherwise = keep: hashed whole


def test_a_required_field_cannot_be_dropped(tmp_path):
    proto = descriptor_pb2.FileDescriptorProto(name="req.proto", package="req", syntax="proto2")
    proto.message_type.add(name="Note").field.add(name="id", number=1, type=FD.TYPE_STRING, label=FD.LABEL_REQUIRED)
    schema = StoredSchema(13, "notes-value", 1, "PROTOBUF", base64.b64encode(proto.SerializeToString()).decode())
    write_topic(tmp_path / "raw", "notes", [framed(13, FIRST, b"\x0a\x02n1")], [schema])
    assert mask_cli(tmp_path / "raw", tmp_path / "out", "notes", {"$.id": "drop"}, tmp_path) == (
        2, "", "evkit: error: mask rules, topic notes: $.id is Protobuf required string (schema id 13), which allows keep, "
               "hash, redact, redact_same_size, not drop\n")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("topic", "rules", "message"), [
    ("bets", {"$.amount": "hash"}, "$.amount is Protobuf double (schema id 7), which allows keep, drop, not hash"),
    ("bets", {"otherwise": "redact", "$.id": "keep"},
     "$.amount is Protobuf double (schema id 7), which allows keep, drop, not redact (otherwise)"),
    ("bets", {"$.placed_at": "redact"},
     "$.placed_at is Protobuf google.protobuf.Timestamp (schema id 7), which allows keep, drop, not redact"),
    ("bets", {"$.side": "hash"}, "$.side is Protobuf enum masktest.Bet.Side (schema id 7), which allows keep, drop, not hash"),
    ("bets", {"$.tags": "redact"}, "$.tags is Protobuf map<string, string> (schema id 7), which allows keep, drop, not redact"),
    ("bets", {"$.notes": "hash"}, "$.notes is Protobuf repeated string (schema id 7), which allows keep, drop, not hash"),
    ("bets", {"$.items[*]": "redact"}, "$.items[*] is Protobuf masktest.Bet.Item (schema id 7), which allows keep, drop, "
                                       "not redact"),
    ("bets", {"$.items[*].n": "redact_same_size"},
     "$.items[*].n is Protobuf int32 (schema id 7), which allows keep, drop, not redact_same_size"),
    ("bets", {"$": "hash"}, "$ is Protobuf masktest.Bet (schema id 7), which allows keep, drop, not hash"),
    ("payments", {"$.count": "hash"}, "$.count is Protobuf int32 (schema id 7), which allows keep, drop, not hash"),
])
def test_a_rule_the_field_cannot_hold_is_refused_before_anything_is_written(masked, tmp_path, topic, rules, message):
    assert mask_cli(masked / f"raw-{topic}", tmp_path / "out", topic, rules, tmp_path) == (
        2, "", f"evkit: error: mask rules, topic {topic}: {message}\n")
    assert not (tmp_path / "out").exists()
