"""Schema Registry schemas in a dataset: the registry client (`registry.py`), the dataset's schema
store (`store.py`) and the wire format of framed keys and values (`wire.py`). docs/schema-registry.md."""
