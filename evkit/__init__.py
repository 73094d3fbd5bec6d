"""evkit: dump exact ranges of Kafka topics to Parquet and analyse them with DuckDB."""
from __future__ import annotations

import importlib
import logging
import sys
import types

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

__version__ = "0.1.0"

# A library logs, the application decides where to: silence the "no handler" fallback.
logging.getLogger("evkit").addHandler(logging.NullHandler())

# The public functions, imported on first use: `import evkit` stays fast for the CLI and for dump
# worker processes, which need neither pandas nor papermill. To add one: name -> module here.
_LAZY = {
    "CheckReport": "checks",
    "Dataset": "analysis",
    "check": "checks",
    "demo": "report",
    "dump": "dump",
    "open": "analysis",
    "partition": "partition",
    "report": "report",
    "synth": "synth",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


class _Package(types.ModuleType):
    """Importing a submodule binds it on the package (`import evkit.report` sets `evkit.report`), which
    would hide the function of the same name (`evkit.dump`, `evkit.report`, `evkit.synth`, ...): bind
    the function instead. Take other names from such a module with `from evkit.report import ...`."""

    def __setattr__(self, name: str, value) -> None:
        if isinstance(value, types.ModuleType) and _LAZY.get(name) == name:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


__all__ = [
    "AuthenticationFailed",
    "BrokerUnreachable",
    "CheckReport",
    "Dataset",
    "DatasetError",
    "EvkitError",
    "KafkaError",
    "NotAuthorized",
    "OffsetOutOfRange",
    "UnknownTopic",
    "UsageError",
    "__version__",
    "check",
    "demo",
    "dump",
    "open",
    "partition",
    "report",
    "synth",
]
