"""Small texts evkit writes in several places, each defined once: times in UTC, keys as text,
severities in order."""
from __future__ import annotations

import time
from datetime import datetime, timezone


def utc_iso(ms: int) -> str:
    """Epoch milliseconds as the manifests write times: `2026-11-27T15:12:00.123Z`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_now() -> str:
    return utc_iso(now_ms())


