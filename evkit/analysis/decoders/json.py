"""`json`: the value as UTF-8 JSON text; a field source `$.a.b` or `$.items[0].id` is a path into it.
All paths are extracted with one parse; bytes that are not UTF-8 JSON fail to decode."""
from __future__ import annotations

from .base import Decoder, sql_list


def extract(column: str, paths: list[str]) -> str:
    return f"try(json_extract_string(try(decode({column})), {sql_list(paths)}))"


DECODER = Decoder("json", extract, nested=True)
