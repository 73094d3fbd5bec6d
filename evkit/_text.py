"""Small texts evkit writes in several places, each defined once: times in UTC, keys as text,
severities in order."""
from __future__ import annotations

import base64
import time
from datetime import datetime, timezone


def utc_iso(ms: int) -> str:
    """Epoch milliseconds as the manifests write times: `2026-11-27T15:12:00.123Z`."""
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def utc_now() -> str:
    return utc_iso(now_ms())




def iso_utc(value: datetime) -> str:
    """ISO-8601 in UTC with milliseconds (microseconds when present): 2023-11-14T22:13:20.000Z."""
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


def key_utf8(data: bytes | None) -> str | None:
    """A key (or any bytes) as text where it is valid UTF-8, else None."""
    if data is None:
        return None
    try:
        return bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return None


def key_text(data: bytes | None) -> tuple[str | None, str | None]:
    """A key as findings write it: (UTF-8 text, None), or (base64 text, "base64") where it is not UTF-8."""
    text = key_utf8(data)
    if text is not None or data is None:
        return text, None
    return base64.b64encode(bytes(data)).decode(), "base64"


# Severities from least to most severe; a threshold (`--fail-on`) counts itself and those after it.
SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}
