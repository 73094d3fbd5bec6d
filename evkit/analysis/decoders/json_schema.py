"""`json_schema`: values framed by a Schema Registry (magic byte 0, schema id) with a JSON payload.
The payload after the frame is the JSON text the paths read; one that is not UTF-8 JSON is a
corrupt payload. Values are not validated against the schema (that is the producer's job)."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from ...schemas.store import StoredSchema
from .framing import PREFIX, Decoded


class Reader:
    """The JSON text of the framed values of one JSON Schema."""

    json_text = True

    def __init__(self, schema: StoredSchema, schemas: dict[int, StoredSchema]):
        self.schema_id = schema.id

    def read(self, values: pa.Array) -> Decoded:
        texts, good, failed = [], [], []
        for row, value in enumerate(values.to_pylist()):
            try:
                text = value[PREFIX:].decode()
                json.loads(text)
            except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
                failed.append(row)
                continue
            texts.append(text)
            good.append(row)
        return Decoded([("", np.array(good, np.int64), pa.array(texts, pa.string()))] if good else [], failed)
