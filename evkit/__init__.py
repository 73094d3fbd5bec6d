"""evkit: dump exact ranges of Kafka topics to Parquet and analyse them with DuckDB."""
from __future__ import annotations

import logging

__version__ = "0.1.0"

# A library logs, the application decides where to: silence the "no handler" fallback.
logging.getLogger("evkit").addHandler(logging.NullHandler())

from .analysis import Dataset, open
from .checks import CheckReport, check
from .dump import dump
from .partition import partition
from .report import demo, report
from .synth import synth
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
    "CheckReport",
    "Dataset",
    "__version__",
    "check",
    "demo",
    "dump",
    "open",
    "partition",
    "report",
    "synth",
]
