"""evkit: dump exact ranges of Kafka topics to Parquet and analyse them with DuckDB."""
from __future__ import annotations

import importlib
import logging

from .errors import (
    AuthenticationFailed,
    BrokerUnreachable,
    ClusterError,
    DatasetError,
    EvkitError,
    NotAuthorized,
    OffsetOutOfRange,
    RegistryError,
    UnknownTopic,
    UsageError,
)

__version__ = "0.1.0"

# A library logs, the application decides where to: silence the "no handler" fallback.
logging.getLogger("evkit").addHandler(logging.NullHandler())

# The public API, imported on first use: `import evkit` stays fast for the CLI and for dump worker
# processes, which need neither pandas nor papermill. To add a name: name -> "module:attribute"
# (or "module" for a public module) here, and in __all__.
_LAZY = {
    "CheckReport": "evkit.analysis.findings:CheckReport",
    "Analysis": "evkit.analysis.session:Analysis",
    "check": "evkit.analysis.session:check",
    "Manifest": "evkit.store.manifest:Manifest",
    "DiffReport": "evkit.share.diff:DiffReport",
    "demo": "evkit.reporting.runner:demo",
    "diff": "evkit.share.diff:diff",
    "mask": "evkit.share.mask:mask",
    "replay": "evkit.share.replay:replay",
    "dump": "evkit.cluster.dumper:dump",
    "fetch_schemas": "evkit.schemas.fetch:fetch_schemas",
    "list_schemas": "evkit.schemas.fetch:list_schemas",
    "load_schemas": "evkit.schemas.store:load_schemas",
    "StoredSchema": "evkit.schemas.store:StoredSchema",
    "open": "evkit.analysis.session:open",
    "partition": "evkit.partitioning.calculator:partition",
    "plots": "evkit.reporting.plots",
    "report": "evkit.reporting.runner:report",
    "synth": "evkit.sample.synth:synth",
}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'evkit' has no attribute {name!r}")
    module, _, attribute = _LAZY[name].partition(":")
    value = importlib.import_module(module)
    value = getattr(value, attribute) if attribute else value
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Analysis",
    "AuthenticationFailed",
    "BrokerUnreachable",
    "CheckReport",
    "ClusterError",
    "DatasetError",
    "DiffReport",
    "EvkitError",
    "Manifest",
    "NotAuthorized",
    "OffsetOutOfRange",
    "RegistryError",
    "StoredSchema",
    "UnknownTopic",
    "UsageError",
    "check",
    "demo",
    "diff",
    "dump",
    "fetch_schemas",
    "list_schemas",
    "load_schemas",
    "open",
    "mask",
    "partition",
    "plots",
    "replay",
    "report",
    "synth",
    "__version__",
]
