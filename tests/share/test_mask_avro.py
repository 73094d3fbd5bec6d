"""Masking Avro values by field: exact masked fields behind the same frame, the checks unchanged on the
masked dataset, rules a field's type cannot hold refused before anything is written, no raw string
anywhere, and the dump refusing field rules on framed values (their schemas are not stored yet)."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta

import fastavro
import pytest

import evkit
from evkit.schemas.store import StoredSchema
from evkit.share.mask import MARKER
from support.dumping import dataset_rows, produce
from test_mask import assert_nowhere, checks_alike, decode_failures, mask_cli, mask_topics
from test_mask import h as hashed

KEY = b"k" * 32
BASE_MS = 1_764_000_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ITEM = {"type": "record", "name": "Item", "fields": [{"name": "sku", "type": "string"}, {"name": "n", "type": "int"}]}
BET = {"type": "record", "name": "Bet", "namespace": "x", "fields": [
    {"name": "id", "type": "string"},
    {"name": "user_id", "type": "string"},
    {"name": "email", "type": ["null", "string"]},
    {"name": "card", "type": "string"},
    {"name": "token", "type": "bytes"},
    {"name": "photo", "type": ["null", "bytes"]},
    {"name": "amount", "type": "double"},
    {"name": "placed_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "side", "type": {"type": "enum", "name": "Side", "symbols": ["BACK", "LAY"]}},
    {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 4}},
    {"name": "tags", "type": {"type": "map", "values": "string"}},
    {"name": "items", "type": {"type": "array", "items": ITEM}},
]}
BET_V2 = {**BET, "fields": [*BET["fields"], {"name": "channel", "type": "string", "default": "web"}]}
PAYMENT = {"type": "record", "name": "Payment", "namespace": "x", "fields": [
    {"name": "payer", "type": "string"}, {"name": "count", "type": "int"}, {"name": "tags", "type": {"type": "array", "items": "string"}},
    {"name": "method", "type": ["null", {"type": "record", "name": "Card", "fields": [{"name": "number", "type": "string"}]},
                                {"type": "record", "name": "Transfer", "fields": [{"name": "iban", "type": "string"},
                                                                                   {"name": "number", "type": "string"}]}]}]}
SCHEMAS = {3: ("bets-value", 1, BET), 5: ("bets-value", 2, BET_V2), 4: ("payments-value", 1, PAYMENT)}
RULES = {
    "defaults": {"key": "hash"},
    "topics": {
        "bets": {"$.id": "keep", "$.user_id": "hash", "$.email": "drop", "$.card": "redact_same_size", "$.token": "hash",
                 "$.photo": "redact", "$.digest": "redact_same_size", "$.tags.user_*": "hash", "$.items[*].sku": "hash"},
        "payments": {"otherwise": "redact", "$.count": "keep", "$.method.iban": "keep"},
    },
}


def h(text: str) -> str:
    return hmac.new(KEY, text.encode(), hashlib.sha256).hexdigest()[:32]


def framed(schema_id: int, record: dict) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(SCHEMAS[schema_id][2]), record)
    return b"\x00" + schema_id.to_bytes(4, "big") + out.getvalue()


def decoded(value: bytes) -> tuple[bytes, dict]:
    """(frame, record) of a framed value, read by fastavro with its logical types; a union of several
    records gives (name, record)."""
    schema = fastavro.parse_schema(SCHEMAS[int.from_bytes(value[1:5], "big")][2])
    return value[:5], fastavro.schemaless_reader(io.BytesIO(value[5:]), schema, None, return_record_name=True,
                                                 return_record_name_override=True)


def bet(n: int, **fields) -> dict:
    return {"id": f"b{n}", "user_id": "user-17", "email": "alice@example.org", "card": "4111-1111", "token": b"tok-secret",
            "photo": None, "amount": 12.5, "placed_at": BASE_MS + n, "side": "LAY", "digest": b"\x01\x02\x03\x04",
            "tags": {"user_email": "alice@example.org", "source": "app"}, "items": [{"sku": "SKU-981", "n": 2}], **fields}


def raw_values() -> list[tuple[str, bytes | None]]:
    return [("bets", framed(3, bet(0))), ("bets", framed(3, bet(1, email=None, photo=b"jpeg-bytes"))), ("bets", framed(3, bet(0))),
            ("bets", framed(3, bet(3))[:-3]),  # corrupt: truncated
            ("bets", b"\x00\x00\x00\x00\x09opaque"),  # framed by an id the dataset does not store
            ("bets", json.dumps({"id": "j1", "user_id": "user-17"}).encode()), ("bets", None), ("bets", b""),
            ("bets", framed(5, {**bet(8), "channel": "kiosk"})), ("bets", framed(5, {**bet(9), "channel": "kiosk"})),
            *[("payments", framed(4, {"payer": "Alice Liddell", "count": 3, "tags": ["vip", "late"], "method": method}))
              for method in (("x.Card", {"number": "5500-0000"}), ("x.Transfer", {"iban": "DE89-3704", "number": "77-12"}))]]


@pytest.fixture(scope="module")
def masked(tmp_path_factory):
    schemas = [StoredSchema(schema_id, subject, version, "AVRO", json.dumps(schema))
               for schema_id, (subject, version, schema) in SCHEMAS.items()]
    return mask_topics(tmp_path_factory.mktemp("mask_avro"), raw_values(), schemas, RULES)


def masked_bet(n: int, **fields) -> dict:
    """bet(n) as the rules mask it, read back with its logical types."""
    record = {**bet(n), "user_id": h("user-17"), "email": None, "card": "*" * 9, "token": h("tok-secret").encode(),
              "digest": b"****", "tags": {"user_email": h("alice@example.org"), "source": "app"},
              "items": [{"sku": h("SKU-981"), "n": 2}], **fields}
    return {**record, "placed_at": EPOCH + timedelta(milliseconds=record["placed_at"])}


def test_avro_fields_are_masked_exactly_behind_the_same_frame(masked):
    rows = dataset_rows(masked / "masked-bets") + dataset_rows(masked / "masked-payments")
    values = [r["value"] for r in rows]
    assert {r["key"] for r in rows} == {h("user-17").encode()}
    assert decoded(values[0]) == (b"\x00\x00\x00\x00\x03", masked_bet(0))
    assert decoded(values[1]) == (b"\x00\x00\x00\x00\x03", masked_bet(1, photo=MARKER.encode()))
    assert values[2] == values[0]  # equal values stay equal
    corrupt = framed(3, bet(3))[:-3]
    assert values[3:8] == [hashed(corrupt),  # corrupt, otherwise = keep: hashed whole (distinct stays distinct), never raw
                           hashed(b"\x00\x00\x00\x00\x09opaque"),  # no stored schema: its fields unreachable, hashed whole
                           json.dumps({"id": "j1", "user_id": h("user-17")}, separators=(",", ":")).encode(), None, b""]
    assert decoded(values[8]) == (b"\x00\x00\x00\x00\x05", {**masked_bet(8), "channel": "kiosk"})
    payment = {"payer": MARKER, "count": 3, "tags": [MARKER, MARKER]}  # otherwise = redact, a union of two records
    assert [decoded(v) for v in values[10:]] == [
        (b"\x00\x00\x00\x00\x04", {**payment, "method": ("x.Card", {"number": MARKER})}),
        (b"\x00\x00\x00\x00\x04", {**payment, "method": ("x.Transfer", {"iban": "DE89-3704", "number": MARKER})})]
    schemas = sorted(p.name for p in (masked / "masked-bets" / "_evkit" / "schemas").iterdir())
    assert schemas == ["3.json", "4.json", "5.json"]


def test_checks_find_on_the_masked_dataset_what_they_find_on_the_raw_one(masked):
    config = {"topics": {"bets": {"value_format": "avro", "event_id": "$.id", "event_time": "$.placed_at"}}}

    assert checks_alike(masked / "raw-bets", masked / "masked-bets", config) == ["duplicate", "schema_drift"]
    with evkit.open(masked / "masked-bets", config=config, quiet=True) as ds:
        assert ds.sql("SELECT event_id FROM events WHERE topic = 'bets' ORDER BY \"offset\"").fetchall() == [
            ("b0",), ("b1",), ("b0",), (None,), (None,), (None,), (None,), (None,), ("b8",), ("b9",)]
    assert decode_failures(masked / "masked-bets", config, "bets") == [
        (3, None, "wrong_magic_byte"), (4, None, "wrong_magic_byte"), (5, None, "wrong_magic_byte"), (7, None, "wrong_magic_byte")]


def test_no_raw_avro_string_survives_in_any_byte(masked):
    secrets = [b"user-17", b"alice@example.org", b"4111-1111", b"tok-secret", b"jpeg-bytes", b"SKU-981", b"5500-0000",
               b"77-12", b"Alice Liddell", b"vip", b"opaque"]
    assert_nowhere(masked / "masked-bets", secrets, kept=[b"kiosk", b"app"])
    assert_nowhere(masked / "masked-payments", secrets, kept=[b"DE89-3704", b"payments"])


@pytest.mark.parametrize(("rules", "message"), [
    ({"$.amount": "hash"}, "$.amount is Avro double (schema id 3), which allows keep, not hash"),
    ({"$.card": "drop"}, "$.card is Avro string (schema id 3), which allows keep, hash, redact, redact_same_size, not drop"),
    ({"otherwise": "redact", "$.id": "keep"}, "$.amount is Avro double (schema id 3), which allows keep, not redact (otherwise)"),
    ({"$.digest": "hash"}, "$.digest is Avro fixed x.Digest(4) (schema id 3), which allows keep, redact_same_size, not hash"),
    ({"$.placed_at": "redact"}, "$.placed_at is Avro long(timestamp-millis) (schema id 3), which allows keep, not redact"),
    ({"$.side": "hash"}, "$.side is Avro enum x.Side{BACK,LAY} (schema id 3), which allows keep, not hash"),
    ({"$.tags": "redact"}, "$.tags is Avro map<string> (schema id 3), which allows keep, not redact"),
    ({"$.tags.user_id": "drop"}, "$.tags.user_id is Avro string (schema id 3), which allows keep, hash, redact, "
                                 "redact_same_size, not drop"),
    ({"$.items[*]": "redact"}, "$.items[*] is Avro x.Item (schema id 3), which allows keep, not redact"),
    ({"$.channel": "drop"}, "$.channel is Avro string (schema id 5), which allows keep, hash, redact, redact_same_size, "
                            "not drop"),
])
def test_a_rule_the_field_cannot_hold_is_refused_before_anything_is_written(masked, tmp_path, rules, message):
    assert mask_cli(masked / "raw-bets", tmp_path / "out", "bets", rules, tmp_path) == (
        2, "", f"evkit: error: mask rules, topic bets: {message}\n")
    assert not (tmp_path / "out").exists()


def test_the_dump_refuses_field_rules_on_framed_values(bootstrap, make_topic, tmp_path):
    """At dump time no schema is stored yet: `$` rules on a framed value are refused (masked whole they
    would ignore the rules, kept they would leak); rules without `$` paths keep the value as it is."""
    topic = make_topic()
    value = framed(3, bet(0))
    produce(bootstrap, topic, [{"key": b"user-17", "value": value, "timestamp": BASE_MS}])
    with pytest.raises(evkit.UsageError) as error:
        evkit.dump(bootstrap=bootstrap, out=tmp_path / "fields", topics=[topic], quiet=True,
                   mask={"defaults": {"$.user_id": "hash"}}, mask_key=KEY)
    assert str(error.value) == (f"topic {topic}: field rules ($...) cannot mask values framed by a Schema Registry "
                                "(schema id 3) during a dump, before their schemas are stored; dump without --mask into "
                                "a new directory, then run `evkit mask DATASET --out DIR`")
    evkit.dump(bootstrap=bootstrap, out=tmp_path / "keys", topics=[topic], quiet=True, mask={"defaults": {"key": "hash"}},
               mask_key=KEY)
    assert [(r["key"], r["value"]) for r in dataset_rows(tmp_path / "keys")] == [(h("user-17").encode(), value)]
