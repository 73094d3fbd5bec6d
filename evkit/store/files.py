"""Files that appear complete or not at all: hidden temporaries, fsync, rename; and their checksums."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import DatasetError


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path) -> Path:
    """A hidden name beside `final` that no dataset glob matches."""
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def commit_file(tmp: Path, final: Path) -> None:
    """fsync `tmp`, rename it to `final` and fsync the directory: the file appears complete or not at all."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False, default=str)
            fh.write("\n")
        commit_file(Path(tmp), path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_temporaries(directory: Path) -> int:
    """Delete hidden temporaries left by an interrupted writer; return how many."""
    count = 0
    for tmp in Path(directory).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_failure(root: Path, exc: OSError) -> DatasetError:
    """A full disk, a read-only mount or a missing permission: one line the user can act on."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return DatasetError(f"cannot write to {root}: {reason}; the committed part is kept: "
                        "make room and re-run the same command to resume")


