"""`raw`: the bytes as they are; the field source `$` reads them as base64 text. Never fails."""
from __future__ import annotations

from .base import Decoder


def extract(column: str, paths: list[str]) -> str:
    return f"CASE WHEN {column} IS NOT NULL THEN [{', '.join(f'to_base64({column})' for _ in paths)}] END"


DECODER = Decoder("raw", extract)
