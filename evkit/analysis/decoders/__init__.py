"""Decoders: per topic, how the stored key and value bytes become the value that field sources read.

A decoder is SQL: given the bytes column and the paths the field sources name, it yields a VARCHAR[]
with the text at each path, or NULL where the bytes do not decode as its format (a tombstone or a
null key is not a failure). Formats that need a Schema Registry schema (`avro`, `protobuf`,
`json_schema`, and `auto` where a value is framed) are decoded first by the decode step (step.py)
into JSON text that the SQL then reads. Every decode failure is counted by one mechanism: the
`undecodable` column of `field_coverage`. A new format is one module here plus one `register(...)`
line below.
"""
from __future__ import annotations

from . import auto, json, raw, string, text
from .base import DECODERS, Decoder, decoder, register, registry_decoder

register(auto.DECODER)
register(json.DECODER)
register(string.DECODER)
register(raw.DECODER)
register(text.DECODER)
register(registry_decoder("avro", "AVRO"))  # their readers: avro.py, protobuf.py, json_schema.py (step.READERS)
register(registry_decoder("protobuf", "PROTOBUF"))
register(registry_decoder("json_schema", "JSON"))

__all__ = ["DECODERS", "Decoder", "decoder", "register"]
