"""evkit: dump exact ranges of Kafka topics to Parquet and analyse them with DuckDB."""
from __future__ import annotations

__version__ = "0.1.0"

from .errors import (
    AuthenticationFailed,
    BrokerUnreachable,
    DatasetError,
    EvkitError,
    KafkaError,
    NotAuthorized,
    OffsetOutOfRange,
    UnknownTopic,
    UsageError,
)

__all__ = [
    "AuthenticationFailed",
    "BrokerUnreachable",
    "DatasetError",
    "EvkitError",
    "KafkaError",
    "NotAuthorized",
    "OffsetOutOfRange",
    "UnknownTopic",
    "UsageError",
    "__version__",
]
