"""`string`: the bytes as UTF-8 text; the field source `$` reads the whole text. Bytes that are not
valid UTF-8 fail to decode."""
from __future__ import annotations

from .base import Decoder


def extract(column: str, paths: list[str]) -> str:
    return f"CASE WHEN try(decode({column})) IS NOT NULL THEN [{', '.join(f'decode({column})' for _ in paths)}] END"


DECODER = Decoder("string", extract)
