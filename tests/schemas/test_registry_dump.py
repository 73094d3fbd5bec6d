"""`evkit dump --schema-registry`, `evkit schemas fetch|list` and the wire format, against the real
broker and the real Schema Registry (Apicurio's Confluent-compatible API, tests/conftest.py).

The producers are confluent-kafka's own AvroSerializer, ProtobufSerializer and JSONSerializer. The
Protobuf message classes are built at test time from FileDescriptorProtos with google.protobuf's
descriptor pool (no protoc, no generated module); the order file imports the money file, so the
serializer registers the money file as a reference. One module-scoped set of topics is produced once.
"""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import NewTopic
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

import evkit
from evkit.cli import main
from evkit.cluster.dumper import summary_line
from evkit.errors import DatasetError, RegistryError
from evkit.schemas.registry import Registry
from evkit.schemas.store import Reference, StoredSchema, load_schemas, schema_path
from evkit.store.manifest import read_manifests

pytestmark = pytest.mark.broker

SECRET = "s3cr3t-Registry-Pw-7f3a"

KEY = {"type": "record", "name": "OrderKey", "namespace": "evkit.test", "fields": [{"name": "id", "type": "long"}]}
MONEY = {"type": "record", "name": "Money", "namespace": "evkit.test",
         "fields": [{"name": "cents", "type": "long"}, {"name": "currency", "type": "string"}]}
V1 = {"type": "record", "name": "Order", "namespace": "evkit.test",
      "fields": [{"name": "id", "type": "long"}, {"name": "amount", "type": "double"}]}
V2 = {**V1, "fields": [*V1["fields"], {"name": "channel", "type": "string", "default": "web"}]}  # added, default
V3 = {**V1, "fields": [V1["fields"][0], V2["fields"][2]]}                                     # amount removed
V4 = {**V1, "fields": [{"name": "id", "type": "string"}, V2["fields"][2]]}                    # id: long -> string
WITH_MONEY = {"type": "record", "name": "Priced", "namespace": "evkit.test",
              "fields": [{"name": "id", "type": "long"}, {"name": "total", "type": "evkit.test.Money"}]}
REFUND = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Refund", "type": "object",
          "properties": {"id": {"type": "string"}, "amount": {"type": "number"}}, "required": ["id"]}
UNKNOWN_ID = 987654
RAW = {"defaults": {"key_format": "raw", "value_format": "raw"}}  # the wire format is read from the bytes, undecoded


def proto_classes(tag: str):
    """Order and Refund (two messages of one file that imports money.proto), built from descriptors."""
    field = descriptor_pb2.FieldDescriptorProto
    money = descriptor_pb2.FileDescriptorProto(name=f"evkit/{tag}/money.proto", package=f"evkit.p{tag}", syntax="proto3")
    message = money.message_type.add(name="Money")
    message.field.add(name="cents", number=1, type=field.TYPE_INT64, label=field.LABEL_OPTIONAL)
    order = descriptor_pb2.FileDescriptorProto(name=f"evkit/{tag}/order.proto", package=f"evkit.p{tag}",
                                               syntax="proto3", dependency=[money.name])
    message = order.message_type.add(name="Order")
    message.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    message.field.add(name="total", number=2, type=field.TYPE_MESSAGE, label=field.LABEL_OPTIONAL,
                      type_name=f".evkit.p{tag}.Money")
    message = order.message_type.add(name="Refund")
    message.field.add(name="id", number=1, type=field.TYPE_STRING, label=field.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(money)
    pool.Add(order)
    return [message_factory.GetMessageClass(pool.FindMessageTypeByName(f"evkit.p{tag}.{name}"))
            for name in ("Money", "Order", "Refund")]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def topics(bootstrap, admin, schema_registry):
    """The produced topics, what each record was written with, and the registry's ids."""
    tag = uuid.uuid4().hex[:8]
    names = {kind: f"schemas-{kind}-{tag}" for kind in ("avro", "proto", "json", "mixed")}
    futures = admin.create_topics([NewTopic(n, 1, 1) for n in names.values()], operation_timeout=30)
    for future in futures.values():
        future.result(30)
    client = SchemaRegistryClient({"url": schema_registry})
    records: dict[str, list[tuple[bytes | None, bytes | None, list]]] = {k: [] for k in names}

    # Avro: keys too; evolution: a field added with a default, a field removed, then a type change
    # (refused under BACKWARD, so registered under NONE); a record whose schema imports Money.
    topic = names["avro"]
    value_ctx, key_ctx = SerializationContext(topic, MessageField.VALUE), SerializationContext(topic, MessageField.KEY)
    keys = AvroSerializer(client, json.dumps(KEY))
    client.register_schema(f"{topic}-value", Schema(json.dumps(V1), "AVRO"))
    client.set_compatibility(f"{topic}-value", "BACKWARD")
    for schema, value in ((V1, {"id": 1, "amount": 2.5}), (V2, {"id": 2, "amount": 1.0, "channel": "app"}),
                          (V3, {"id": 3, "channel": "web"})):
        records["avro"].append((keys({"id": value["id"]}, key_ctx), AvroSerializer(client, json.dumps(schema))(value, value_ctx), []))
    client.set_compatibility(f"{topic}-value", "NONE")
    records["avro"].append((keys({"id": 4}, key_ctx),
                            AvroSerializer(client, json.dumps(V4))({"id": "4", "channel": "web"}, value_ctx), []))
    money_subject = f"money-{tag}"
    client.register_schema(money_subject, Schema(json.dumps(MONEY), "AVRO"))
    client.register_schema(f"{topic}-value", Schema(json.dumps(WITH_MONEY), "AVRO",
                                                    [SchemaReference("evkit.test.Money", money_subject, 1)]))
    priced = AvroSerializer(client, None, conf={"auto.register.schemas": False, "use.latest.version": True})
    records["avro"].append((keys({"id": 5}, key_ctx), priced({"id": 5, "total": {"cents": 250, "currency": "EUR"}},
                                                             value_ctx), []))

    # Protobuf: the serializer registers order.proto with money.proto as its reference; Refund is
    # the file's second message (message indexes [1]).
    Money, Order, Refund = proto_classes(tag)
    topic = names["proto"]
    ctx = SerializationContext(topic, MessageField.VALUE)
    conf = {"use.deprecated.format": False}
    records["proto"].append((b"o-1", ProtobufSerializer(Order, client, conf)(Order(id="o-1", total=Money(cents=7)), ctx), []))
    refunds = ProtobufSerializer(Refund, client, {**conf, "subject.name.strategy": lambda c, r: f"{topic}-refund"})
    records["proto"].append((b"r-1", refunds(Refund(id="r-1"), ctx), []))

    topic = names["json"]
    refund_json = JSONSerializer(json.dumps(REFUND), client)
    records["json"] = [(b"j-1", refund_json({"id": "j-1", "amount": 3}, SerializationContext(topic, MessageField.VALUE)), [])]

    # Other framings in one topic: the id in a __value_schema_id header (bare payload), in Apicurio's
    # contentId and globalId headers, an id the registry does not know (mid-range), plain JSON, a tombstone.
    v1_id = client.lookup_schema(f"{names['avro']}-value", Schema(json.dumps(V1), "AVRO")).schema_id
    bare = records["avro"][0][1][5:]
    records["mixed"] = [
        (b"m-0", b'{"plain": true}', []),
        (b"m-1", bare, [("__value_schema_id", b"\x00" + v1_id.to_bytes(4, "big"))]),
        (b"m-2", bare, [("apicurio.value.contentId", v1_id.to_bytes(8, "big"))]),
        (b"m-3", bare, [("apicurio.value.globalId", (41).to_bytes(8, "big"))]),
        (b"m-4", b"\x00" + UNKNOWN_ID.to_bytes(4, "big") + bare, []),
        (b"m-5", b"\x00" + UNKNOWN_ID.to_bytes(4, "big") + bare, []),
        (b"m-6", None, []),
    ]
    producer = Producer({"bootstrap.servers": bootstrap})
    for kind, rows in records.items():
        for key, value, headers in rows:
            producer.produce(names[kind], key=key, value=value, headers=headers)
    assert producer.flush(30) == 0

    def registered(subject: str, schema: dict | str, schema_type: str = "AVRO", references=()) -> int:
        text = schema if isinstance(schema, str) else json.dumps(schema)
        return client.lookup_schema(subject, Schema(text, schema_type, list(references))).schema_id

    avro = names["avro"]
    ids = {
        "key": registered(f"{avro}-key", KEY), "v1": v1_id, "v2": registered(f"{avro}-value", V2),
        "v3": registered(f"{avro}-value", V3), "v4": registered(f"{avro}-value", V4),
        "money": registered(money_subject, MONEY),
        "priced": registered(f"{avro}-value", WITH_MONEY, references=[SchemaReference("evkit.test.Money", money_subject, 1)]),
        "refund_json": registered(f"{names['json']}-value", REFUND, "JSON"),
    }
    ids["order_proto"] = int.from_bytes(records["proto"][0][1][1:5], "big")
    ids["refund_proto"] = int.from_bytes(records["proto"][1][1][1:5], "big")
    return {"names": names, "records": records, "ids": ids, "client": client, "money_subject": money_subject,
            "tag": tag}


@pytest.fixture(scope="module")
def with_registry(topics, bootstrap, schema_registry, tmp_path_factory):
    """One dump of every topic with --schema-registry, credentials given (Apicurio ignores them)."""
    out = tmp_path_factory.mktemp("with-registry") / "ds"
    manifest = evkit.dump(bootstrap=bootstrap, out=out, topics=list(topics["names"].values()),
                          schema_registry=schema_registry, quiet=True,
                          client_config=[f"schema.registry.basic.auth.user.info=analyst:{SECRET}"])
    return out, manifest


def expected_schemas(topics) -> dict[int, StoredSchema]:
    """What the store must hold, built from the test's own schemas and the registry's ids."""
    ids, names, client = topics["ids"], topics["names"], topics["client"]
    avro = f"{names['avro']}-value"
    money = Reference("evkit.test.Money", topics["money_subject"], 1)
    schemas = [
        StoredSchema(ids["key"], f"{names['avro']}-key", 1, "AVRO", json.dumps(KEY)),
        StoredSchema(ids["v1"], avro, 1, "AVRO", json.dumps(V1)),
        StoredSchema(ids["v2"], avro, 2, "AVRO", json.dumps(V2)),
        StoredSchema(ids["v3"], avro, 3, "AVRO", json.dumps(V3)),
        StoredSchema(ids["v4"], avro, 4, "AVRO", json.dumps(V4)),
        StoredSchema(ids["priced"], avro, 5, "AVRO", json.dumps(WITH_MONEY), (money,)),
        StoredSchema(ids["money"], topics["money_subject"], 1, "AVRO", json.dumps(MONEY)),
        StoredSchema(ids["refund_json"], f"{names['json']}-value", 1, "JSON", json.dumps(REFUND)),
    ]
    # Protobuf: the schema text as Apicurio serves it (the base64 FileDescriptorProto the client sent)
    order = client.get_schema(ids["order_proto"])
    (ref,) = order.references
    money_proto = client.get_version(ref.subject, ref.version)
    schemas += [
        StoredSchema(ids["order_proto"], f"{names['proto']}-value", 1, "PROTOBUF", order.schema_str,
                     (Reference(ref.name, ref.subject, ref.version),)),
        StoredSchema(money_proto.schema_id, ref.subject, ref.version, "PROTOBUF", money_proto.schema.schema_str),
    ]
    # Refund is a message of the same file: one content, one id, under two subjects; the store names
    # the subject of the topic it was seen in (TopicNameStrategy), and the message indexes tell the two apart.
    assert ids["refund_proto"] == ids["order_proto"]
    assert {(v.subject, v.version) for v in client.get_schema_versions(ids["order_proto"])} == {
        (f"{names['proto']}-value", 1), (f"{names['proto']}-refund", 1)}
    assert ref.name == f"evkit/{topics['tag']}/money.proto"
    return {s.id: s for s in schemas}


def expected_seen(topics) -> dict:
    ids, names = topics["ids"], topics["names"]
    one = lambda *keys: {str(ids[k]): 1 for k in keys}  # noqa: E731
    return {
        names["avro"]: {"key": {str(ids["key"]): 5}, "value": one("v1", "v2", "v3", "v4", "priced")},
        names["json"]: {"value": one("refund_json")},
        names["mixed"]: {"value": {str(ids["v1"]): 2, str(UNKNOWN_ID): 2, "apicurio-global:41": 1}},
        names["proto"]: {"value": {str(ids["order_proto"]): 2}},
    }


def test_the_dump_stores_every_schema_it_met_with_its_references(topics, with_registry, schema_registry):
    out, manifest = with_registry
    expected = expected_schemas(topics)
    assert load_schemas(out) == dict(sorted(expected.items()))
    section = json.loads((out / f"_evkit/runs/{manifest.run_id}.json").read_text())["schemas"]
    assert section["registry"] == schema_registry
    assert section["seen"] == expected_seen(topics)
    assert set(section["stored"]) == {str(i) for i in expected}
    assert section["unknown"] == {str(UNKNOWN_ID): 2}  # counted, raw bytes kept
    assert "not_fetched" not in section
    assert manifest.records == 15
    assert summary_line(manifest, out).endswith(
        f"; {len(expected)} schema(s) stored; ids unknown to the registry: {UNKNOWN_ID} (2 records), raw bytes kept")


def test_sql_derives_the_same_wire_format_as_the_dump_counted(topics, with_registry):
    out, manifest = with_registry
    names, ids = topics["names"], topics["ids"]
    with evkit.open(out, config=RAW, quiet=True) as ds:
        counted = ds.sql("SELECT topic, field, id, count(*) FROM (SELECT topic, 'key' AS field, key_schema_id AS id "
                         "FROM record_wire UNION ALL SELECT topic, 'value', value_schema_id FROM record_wire) "
                         "WHERE id IS NOT NULL GROUP BY ALL").fetchall()
        mixed = ds.sql(f"SELECT key_text, value_wire_format, value_schema_id, "
                       f"wire_payload(value, headers, 'value') = (SELECT wire_payload(value, headers, 'value') FROM records "
                       f"  WHERE topic = '{names['mixed']}' AND key_text = 'm-1') AS same_payload "
                       f"FROM record_wire JOIN records USING (topic, partition, \"offset\") "
                       f"WHERE topic = '{names['mixed']}' ORDER BY \"offset\"").fetchall()
        indexes = ds.sql(f"SELECT key_text, message_indexes(value) FROM records WHERE topic = '{names['proto']}' "
                         "ORDER BY \"offset\"").fetchall()
        keys = ds.sql(f"SELECT DISTINCT key_wire_format FROM record_wire WHERE topic = '{names['avro']}'").fetchall()
    from_sql: dict = {}
    for topic, field, schema_id, count in counted:
        from_sql.setdefault(topic, {}).setdefault(field, {})[str(schema_id)] = count
    seen = manifest.schemas["seen"]
    assert from_sql == {t: {f: {i: n for i, n in c.items() if i.isdigit()} for f, c in fields.items()}
                        for t, fields in seen.items()}
    assert mixed == [
        ("m-0", "plain", None, False), ("m-1", "header", ids["v1"], True), ("m-2", "apicurio_header", ids["v1"], True),
        ("m-3", "apicurio_header", None, True), ("m-4", "confluent", UNKNOWN_ID, True),
        ("m-5", "confluent", UNKNOWN_ID, True), ("m-6", None, None, None),
    ]
    assert indexes == [("o-1", [0]), ("r-1", [1])]
    assert keys == [("confluent",)]


def test_without_a_registry_the_ids_are_recorded_and_fetch_adds_the_schemas(topics, with_registry, bootstrap,
                                                                            schema_registry, tmp_path, capsys):
    out = tmp_path / "later"
    names = topics["names"]
    assert main(["dump", "-b", bootstrap, "-o", str(out), "-t", names["avro"], "-t", names["mixed"], "-q"]) == 0
    (run,) = read_manifests(out)
    seen = expected_seen(topics)
    assert run.schemas == {"registry": None, "seen": {t: seen[t] for t in sorted((names["avro"], names["mixed"]))},
                           "stored": {}, "unknown": {}}
    assert load_schemas(out) == {}
    capsys.readouterr()
    assert main(["schemas", "list", str(out)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["id", "status", "type", "subject", "version", "refs", "records"]
    assert listed[1].split() == [str(topics["ids"]["v1"]), "not", "fetched", "-", "-", "-", "0",
                                 f"{names['avro']}/value", "1,", f"{names['mixed']}/value", "2"]

    assert main(["schemas", "fetch", str(out), "--schema-registry", schema_registry, "-q"]) == 0
    assert capsys.readouterr().out == f"7 schema(s) stored in {out}; ids unknown to the registry: {UNKNOWN_ID} (2 records)\n"
    expected = expected_schemas(topics)
    avro_ids = ("key", "v1", "v2", "v3", "v4", "priced", "money")
    assert load_schemas(out) == {i: expected[i] for i in sorted(topics["ids"][k] for k in avro_ids)}
    (run,) = read_manifests(out)
    assert (run.schemas["registry"], run.schemas["unknown"]) == (schema_registry, {str(UNKNOWN_ID): 2})
    assert main(["schemas", "list", str(out)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows[str(UNKNOWN_ID)].split()[1:5] == ["unknown", "to", "the", "registry"]
    assert rows["apicurio-global:41"].split()[1:5] == ["not", "a", "registry", "id"]
    assert rows[str(topics["ids"]["priced"])].split()[:7] == [
        str(topics["ids"]["priced"]), "stored", "AVRO", f"{names['avro']}-value", "5", "1", f"{names['avro']}/value"]
    # the dataset opens and checks with no registry at all
    with evkit.open(out, config=RAW, quiet=True) as ds:
        assert ds.sql("SELECT count(*) FROM record_wire").fetchall() == [(12,)]


def test_an_unreachable_registry_fails_before_any_record_is_read(topics, bootstrap, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/apis/ccompat/v7"
    out = tmp_path / "never"
    # the real command in its own process: stderr is that one line (no library warning, no traceback)
    done = subprocess.run([str(Path(sys.executable).with_name("evkit")), "dump", "-b", bootstrap, "-o", str(out),
                           "-t", topics["names"]["json"], "--schema-registry", url], capture_output=True, text=True)
    err = done.stderr
    assert (done.returncode, done.stdout) == (2, "")
    assert err.startswith(f"evkit: error: cannot reach the schema registry at {url}: ")
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()  # nothing read, nothing written
    with pytest.raises(RegistryError, match=r"^cannot reach the schema registry at "):
        Registry(url).check()


def test_registry_credentials_never_reach_the_dataset_the_output_or_the_log(topics, with_registry, bootstrap,
                                                                           schema_registry, tmp_path, capfd):
    out, manifest = with_registry
    assert manifest.client_config == {"bootstrap.servers": bootstrap,
                                      "schema.registry.basic.auth.user.info": "[redacted]"}
    # the password in the URL, and in a -F file; -v logs everything; a failing fetch prints its error
    host = schema_registry.split("//", 1)[1]
    properties = tmp_path / "registry.properties"
    properties.write_text(f"schema.registry.url=http://analyst:{SECRET}@{host}\n")
    other = tmp_path / "again"
    assert main(["-vv", "dump", "-b", bootstrap, "-o", str(other), "-t", topics["names"]["json"], "-F", str(properties)]) == 0
    assert main(["-vv", "schemas", "fetch", str(other), "-F", str(properties)]) == 0
    assert main(["schemas", "fetch", str(other), "--schema-registry",
                 f"http://analyst:{SECRET}@127.0.0.1:{closed_port()}/x"]) == 2
    printed = capfd.readouterr()
    assert SECRET not in printed.out + printed.err
    assert "cannot reach the schema registry at http://127.0.0.1:" in printed.err
    for dataset in (out, other):
        for path in Path(dataset).rglob("*"):
            if path.is_file():
                assert SECRET.encode() not in path.read_bytes(), path
    (run,) = read_manifests(other)
    assert run.client_config["schema.registry.url"] == f"http://{host}"
    assert run.schemas["registry"] == f"http://{host}"


def test_a_corrupted_schema_file_is_a_one_line_error(topics, with_registry, tmp_path, capsys):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(with_registry[0], out)
    path = schema_path(out, topics["ids"]["v2"])
    path.write_text(path.read_text().replace('web', 'app'))  # still a valid schema: only the sha256 tells
    with pytest.raises(DatasetError, match=r"sha256 differs from what dump run .* recorded; the schema file was changed"):
        evkit.open(out, quiet=True)
    path.write_text("{")
    assert main(["check", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"evkit: error: {path}: ") and len(err.splitlines()) == 1


def test_a_resumed_dump_counts_the_ids_of_files_an_interrupted_attempt_committed(topics, bootstrap, tmp_path):
    out = tmp_path / "resumed"
    request = dict(bootstrap=bootstrap, out=out, topics=[topics["names"]["avro"], topics["names"]["mixed"]], quiet=True)
    first = evkit.dump(**request)
    # as kill -9 leaves it after the files were committed: the manifest still says running, lists nothing
    path = out / f"_evkit/runs/{first.run_id}.json"
    manifest = json.loads(path.read_text())
    del manifest["schemas"]
    path.write_text(json.dumps({**manifest, "status": "running", "partitions": []}))
    again = evkit.dump(**request)
    assert (again.run_id, again.status, again.records) == (first.run_id, "complete", 12)
    assert again.schemas == first.schemas
    assert again.schemas["seen"] == {t: expected_seen(topics)[t] for t in request["topics"]}
