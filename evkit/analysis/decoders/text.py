"""`text`, the key's default: UTF-8 text where the bytes are valid UTF-8, else `base64:` and their
base64 (the dump's `key_text` column already holds the UTF-8 text). Never fails."""
from __future__ import annotations

from .base import Decoder


def extract(column: str, paths: list[str]) -> str:
    text = f"coalesce({column}_text, 'base64:' || to_base64({column}))" if column == "key" else \
        f"coalesce(try(decode({column})), 'base64:' || to_base64({column}))"
    return f"CASE WHEN {column} IS NOT NULL THEN [{', '.join(text for _ in paths)}] END"


DECODER = Decoder("text", extract)
