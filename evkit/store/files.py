"""Files that appear complete or not at all: hidden temporaries, fsync, rename; and their checksums."""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from ..errors import DatasetError
from .fs import ObjectPath


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(final: Path | ObjectPath) -> Path:
    """A hidden name beside `final` that no dataset glob matches; for an object, a local staging file
    (object storage has no rename: the finished file is uploaded whole)."""
    if isinstance(final, ObjectPath):
        staging_dir().mkdir(parents=True, exist_ok=True)
        return staging_dir() / f".{final.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    return final.with_name(f".{final.name}.{os.getpid()}.tmp")


def staging_dir() -> Path:
    """Where files bound for object storage are written before their upload."""
    return Path(tempfile.gettempdir()) / f"evkit-staging-{os.getuid()}"


def commit_file(tmp: Path, final: Path | ObjectPath) -> None:
    """fsync `tmp`, rename it to `final` and fsync the directory: the file appears complete or not at all.
    An object is uploaded from `tmp` (visible only once complete), and `tmp` removed."""
    if isinstance(final, ObjectPath):
        try:
            final.upload(tmp)
        finally:
            tmp.unlink(missing_ok=True)
        return
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_dir(final.parent)


def atomic_write_json(path: Path | ObjectPath, obj: Any) -> None:
    if isinstance(path, ObjectPath):  # one PUT: the object appears whole or not at all
        path.write_bytes((json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n").encode())
        return
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


def remove_temporaries(directory: Path | ObjectPath) -> int:
    """Delete hidden temporaries left by an interrupted writer; return how many. For object storage,
    the staging files of writers that are no longer running."""
    count = 0
    if isinstance(directory, ObjectPath):
        for tmp in staging_dir().glob(".*.tmp") if staging_dir().is_dir() else ():
            if not _running(int(tmp.name.rsplit(".", 3)[-3])):
                tmp.unlink(missing_ok=True)
                count += 1
        return count
    for tmp in Path(directory).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sha256_file(path: Path | ObjectPath) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def write_failure(root: Path, exc: OSError) -> DatasetError:
    """A full disk, a read-only mount or a missing permission: one line the user can act on."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return DatasetError(f"cannot write to {root}: {reason}; the committed part is kept: "
                        "make room and re-run the same command to resume")


