"""Helpers for comparing datasets written by different engines or to different stores."""
from __future__ import annotations

# What differs between two runs of the same dump whatever wrote them: ids, times, the tool, the client.
RUN_FIELDS = ("run_id", "started_at", "finished_at", "tool", "client_config")


def comparable(manifest: dict) -> dict:
    """A manifest as JSON without what differs between two runs of the same dump: run id, times, the
    tool (engine fields), the moment each end was fixed, and each file's checksum and size (row
    groups may differ; the rows may not)."""
    parts = [{**p, "watermarks_end": None, "end_fixed_at": None,
              "files": [{k: v for k, v in f.items() if k not in ("sha256", "bytes")} for f in p["files"]]}
             for p in manifest["partitions"]]
    plan = [{**p, "end_fixed_at": None} for p in manifest.get("plan") or []]
    return {**{k: v for k, v in manifest.items() if k not in RUN_FIELDS}, "partitions": parts, "plan": plan}
