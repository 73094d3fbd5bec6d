"""The small tables an analysis session builds from the manifests: `manifests` (run x partition) and
`topics` (configs recorded at dump time), as Arrow tables."""
from __future__ import annotations

from datetime import datetime

import pyarrow as pa

from ..store.fs import to_uri
from .fields import FieldConfig
from .verify import LoadedDataset


def _utc_ms(text: str | None) -> datetime | None:
    """A manifest time (ISO-8601, `Z`) as an aware datetime; None where the manifest has none."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def manifest_rows(datasets: list[LoadedDataset]) -> pa.Table:
    rows = []
    for ds in datasets:
        for manifest in ds.manifests:
            for part in manifest.partitions:
                rows.append({
                    "cluster_id": ds.cluster_id, "dataset": to_uri(ds.root),  # S3: with its options, so it opens again
                    "run_id": manifest.run_id,
                    "status": manifest.status, "isolation": manifest.isolation,
                    "topic": part.topic, "partition": part.partition, "start": part.start, "end": part.end,
                    "first_offset": part.first_offset, "last_offset": part.last_offset,
                    "records": part.records, "bytes": part.bytes,
                    "low_watermark": (part.watermarks_start or {}).get("low"),
                    "high_watermark": (part.watermarks_start or {}).get("high"),
                    "complete": part.complete, "skipped": part.skipped or [], "files": len(part.files),
                    "end_fixed_at": _utc_ms(part.end_fixed_at),
                })
    schema = pa.schema([
        ("cluster_id", pa.string()), ("dataset", pa.string()), ("run_id", pa.string()), ("status", pa.string()),
        ("isolation", pa.string()), ("topic", pa.string()), ("partition", pa.int32()), ("start", pa.int64()),
        ("end", pa.int64()), ("first_offset", pa.int64()), ("last_offset", pa.int64()), ("records", pa.int64()),
        ("bytes", pa.int64()), ("low_watermark", pa.int64()), ("high_watermark", pa.int64()),
        ("complete", pa.bool_()), ("skipped", pa.list_(pa.list_(pa.int64()))), ("files", pa.int32()),
        ("end_fixed_at", pa.timestamp("ms", tz="UTC")),
    ])
    return pa.Table.from_pylist(rows, schema=schema)


def topic_rows(datasets: list[LoadedDataset], fields: FieldConfig) -> pa.Table:
    topics: dict[tuple[str, str], dict] = {}
    for ds in datasets:
        for manifest in ds.manifests:
            for topic, info in (manifest.topics or {}).items():
                configs = {k: str(v) for k, v in (info.get("configs") or {}).items()}
                topics[(ds.cluster_id, topic)] = {
                    "cluster_id": ds.cluster_id, "topic": topic, "partition_count": info.get("partition_count"),
                    "cleanup_policy": configs.get("cleanup.policy"), "configs": list(configs.items()),
                    "transactional": fields.transactional(topic),
                }
    schema = pa.schema([("cluster_id", pa.string()), ("topic", pa.string()), ("partition_count", pa.int32()),
                        ("cleanup_policy", pa.string()), ("configs", pa.map_(pa.string(), pa.string())),
                        ("transactional", pa.bool_())])
    return pa.Table.from_pylist(list(topics.values()), schema=schema)


def overlapping(manifests: pa.Table) -> bool:
    """True if two datasets cover a common offset of one cluster's partition (records need de-duplication)."""
    seen: dict[tuple, list[tuple[int, int, str]]] = {}
    for row in manifests.to_pylist():
        seen.setdefault((row["cluster_id"], row["topic"], row["partition"]), []).append(
            (row["start"], row["end"], row["dataset"]))
    for ranges in seen.values():
        ranges.sort()
        for (_, end, ds_a), (start, _, ds_b) in zip(ranges, ranges[1:]):
            if start < end and ds_a != ds_b:
                return True
    return False


