"""`auto`, the default of key_format and value_format: a value framed by a Schema Registry (magic
byte 0 and a 4-byte schema id) in a dataset that stores schemas is decoded in its schema's type
(Avro, Protobuf or JSON Schema), and undecodable if the id is not stored or the payload does not
decode; any other value reads as before there were schemas: `json` for values, `text` for keys."""
from __future__ import annotations

from . import json, text
from .base import Decoder, decoded_extract
from ...schemas.store import SCHEMA_TYPES


def extract(column: str, paths: list[str]) -> str:
    fallback = text.extract if column == "key" else json.extract
    return (f"CASE WHEN {column}_failure IS NOT NULL THEN NULL WHEN {column}_decoded IS NOT NULL "
            f"THEN {decoded_extract(column, paths)} ELSE {fallback(column, paths)} END")


DECODER = Decoder("auto", extract, nested=True, schema_types=SCHEMA_TYPES)
