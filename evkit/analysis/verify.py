"""Verification of a dataset directory before analysis: identity, manifests, the file list, sizes,
row counts and sha256 (streamed on two threads).

On object storage (`s3://`) the file list and sizes come from one listing; the sha256 and row counts
read every object, which a check of one topic must not, so they are verified there with
`verify="full"` only."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from .._progress import bar
from ..errors import DatasetError
from ..schemas.store import check_stored
from ..store.files import sha256_file
from ..store.fs import ObjectPath, as_path
from ..store.layout import data_files, file_metadata, read_identity
from ..store.manifest import FileEntry, Manifest, read_manifests


@dataclass
class LoadedDataset:
    """One verified dataset directory: its cluster, the runs it uses and their data files."""

    root: Path | ObjectPath
    cluster_id: str
    manifests: list[Manifest]
    files: list[Path | ObjectPath]
    ignored: list[Path | ObjectPath]


def _listed_files(root: Path, manifests: list[Manifest]) -> dict[Path, tuple[FileEntry, str]]:
    return {root / entry.path: (entry, manifest.run_id)
            for manifest in manifests for part in manifest.partitions for entry in part.files}


def _check_file(path: Path | ObjectPath, entry: FileEntry, run_id: str, verify: bool | str,
                size: int | None = None) -> None:
    """`size` is the object's size from the listing (object storage), else the file is asked."""
    if size is None and not isinstance(path, ObjectPath) and path.exists():
        size = path.stat().st_size
    if size is None:
        raise DatasetError(f"{path}: listed by dump run {run_id} but missing; the dataset was modified after the dump")
    if size != entry.bytes:
        raise DatasetError(f"{path}: size {size} differs from the {entry.bytes} bytes dump run {run_id} wrote")
    if isinstance(path, ObjectPath) and verify != "full":
        return
    if verify and sha256_file(path) != entry.sha256:
        raise DatasetError(f"{path}: sha256 differs from what dump run {run_id} wrote; the file was changed or corrupted")
    if file_metadata(path)["num_rows"] != entry.rows:
        raise DatasetError(f"{path}: row count differs from the {entry.rows} rows dump run {run_id} wrote")


def load_dataset(root: str | Path | ObjectPath, *, allow_incomplete: bool = False, verify: bool | str = True,
                 quiet: bool = False) -> LoadedDataset:
    """Read and verify one dataset directory; DatasetError (one line) for anything inconsistent.
    `verify`: True checks sha256 of local files (object storage: sizes only), "full" everywhere."""
    root = as_path(root)
    remote = isinstance(root, ObjectPath)
    if not remote and not root.is_dir():
        raise DatasetError(f"{root}: no such dataset directory")
    identity = read_identity(root)
    if identity is None:
        raise DatasetError(f"{root}: not an evkit dataset (no _evkit/dataset.json)")
    manifests = read_manifests(root)
    if not manifests:
        raise DatasetError(f"{root}: the dataset has no dump run manifests")
    incomplete = [m for m in manifests if m.status != "complete"]
    if incomplete and not allow_incomplete:
        run = incomplete[0]
        raise DatasetError(f"{root}: dump run {run.run_id} is {run.status}, not complete; re-run the same "
                           "`evkit dump` to resume it, or open with allow_incomplete=True")
    for manifest in manifests:
        if manifest.cluster_id != identity["cluster_id"]:
            raise DatasetError(f"{root}: run {manifest.run_id} is of cluster {manifest.cluster_id}, "
                               f"the dataset of {identity['cluster_id']}")
    listed = _listed_files(root, manifests)
    incomplete_runs = {m.run_id for m in incomplete}
    ignored = []
    present = root.sizes("topic=*/partition=*/*.parquet") if remote else None
    for path in present or data_files(root):
        if path in listed:
            continue
        if allow_incomplete and file_metadata(path).get("run_id") in incomplete_runs:
            ignored.append(path)
            continue
        raise DatasetError(f"{path}: not listed in any run manifest: an interrupted dump not yet resumed "
                           "(re-run it) or a file from another dump")
    total = sum(entry.bytes for entry, _ in listed.values())
    with bar(total=total, unit="B", unit_scale=True, desc=f"verify {root.name}",
             quiet=quiet or not verify or remote and verify != "full",
             leave=False) as shown, ThreadPoolExecutor(max_workers=2) as pool:
        def check_one(item: tuple[Path, tuple[dict, str]]) -> None:
            path, (entry, run_id) = item
            _check_file(path, entry, run_id, verify, None if present is None else present.get(path))
            shown.update(entry.bytes)
        list(pool.map(check_one, sorted(listed.items())))
    check_stored(root, manifests, verify=bool(verify))  # the schemas the runs stored, if any
    return LoadedDataset(root, identity["cluster_id"], manifests, sorted(listed), ignored)


def topic_names(datasets: list[LoadedDataset]) -> list[str]:
    """The topics the datasets' manifests cover, sorted."""
    return sorted({part.topic for ds in datasets for manifest in ds.manifests for part in manifest.partitions})


