"""The dataset's schema store: the fixed file layout, exact round trips, and one-line errors for damage."""
from __future__ import annotations

import json

import pytest

from evkit.errors import DatasetError
from evkit.schemas.store import Reference, StoredSchema, load_schemas, referenced, schema_path, write_schema

MONEY = StoredSchema(4, "money", 1, "AVRO", '{"type":"fixed","name":"Money","size":8}')
ORDER = StoredSchema(7, "orders-value", 2, "AVRO", '{"type":"record","name":"Order","fields":[]}',
                     (Reference("Money", "money", 1),))


def test_schemas_round_trip_in_the_fixed_layout(tmp_path):
    assert load_schemas(tmp_path) == {}  # a dataset without schemas
    for schema in (ORDER, MONEY):
        write_schema(tmp_path, schema)
    assert json.loads((tmp_path / "_evkit/schemas/7.json").read_text()) == {
        "id": 7, "subject": "orders-value", "version": 2, "schema_type": "AVRO",
        "schema": '{"type":"record","name":"Order","fields":[]}',
        "references": [{"name": "Money", "subject": "money", "version": 1}],
    }
    assert load_schemas(tmp_path) == {4: MONEY, 7: ORDER}
    assert list(load_schemas(tmp_path)) == [4, 7]
    assert referenced(ORDER, load_schemas(tmp_path)) == [MONEY]
    assert sorted(p.name for p in (tmp_path / "_evkit/schemas").iterdir()) == ["4.json", "7.json"]  # no temporaries


def test_a_missing_reference_names_the_subject_and_version(tmp_path):
    write_schema(tmp_path, ORDER)
    with pytest.raises(DatasetError, match=r"^schema 7 references money version 1, which the dataset does not hold"):
        referenced(ORDER, load_schemas(tmp_path))


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", r"not valid JSON"),
    ("[]", r"not a JSON object"),
    (json.dumps({**ORDER.to_json(), "schema": None}), r"no valid 'schema'"),
    (json.dumps({**ORDER.to_json(), "schema_type": "THRIFT"}), r"schema_type 'THRIFT' is not one of AVRO, PROTOBUF, JSON"),
    (json.dumps({**ORDER.to_json(), "id": 8}), r"it holds schema id 8, not 7"),
    (json.dumps({**ORDER.to_json(), "references": [{"name": "Money", "subject": "money"}]}),
     r"a reference without a valid name, subject and version"),
])
def test_a_damaged_schema_file_is_one_line(tmp_path, content, reason):
    write_schema(tmp_path, ORDER)
    schema_path(tmp_path, 7).write_text(content)
    with pytest.raises(DatasetError) as error:
        load_schemas(tmp_path)
    assert str(error.value).startswith(f"{schema_path(tmp_path, 7)}: not a valid stored schema (")
    assert str(error.value).endswith("); the file was damaged or edited")
    assert "\n" not in str(error.value)
    assert error.match(reason)
