"""Where a dataset lives: a local directory (a `pathlib.Path`) or a prefix in S3-compatible object
storage (an `ObjectPath`, `s3://bucket/prefix`).

`ObjectPath` offers the part of the `Path` API the store uses (`/`, `name`, `parent`, `exists`,
`is_dir`, `iterdir`, `glob`, `read_text`, `stat`, `relative_to`, ...) over `pyarrow.fs.S3FileSystem`,
so the store's code is the same for both and a local dataset is written byte for byte as before.
What differs is confined to `files.py`: S3 has no rename, so a data file is written to a local
staging file and uploaded whole at commit (a single PUT or a completed multipart upload: an object
appears complete or not at all), and a run's manifest, written last, lists only complete objects.

Credentials come from where AWS tools look (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, AWS_PROFILE and ~/.aws, instance roles); the endpoint of an S3-compatible server
from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, or the URL's query (`?endpoint_override=...&region=...`,
pyarrow's URI options). No credential is ever part of the URL, so none reaches a manifest or a log.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlencode, urlsplit

import pyarrow.fs as pafs
from fsspec.implementations.arrow import ArrowFSWrapper

from ..errors import UsageError

SCHEMES = ("s3://",)


def is_remote(location: str | Path | ObjectPath) -> bool:
    return isinstance(location, ObjectPath) or isinstance(location, str) and location.startswith(SCHEMES)


def as_path(location: str | os.PathLike | ObjectPath) -> Path | ObjectPath:
    """A dataset location as a `Path` (local) or an `ObjectPath` (`s3://bucket/prefix[?options]`)."""
    if isinstance(location, ObjectPath):
        return location
    if isinstance(location, str) and location.startswith(SCHEMES):
        return ObjectPath.from_uri(location)
    return Path(location)


def to_uri(location: Path | ObjectPath) -> str:
    """The text that `as_path` turns back into the same location (options kept, no credentials)."""
    return location.uri if isinstance(location, ObjectPath) else str(location)


@lru_cache(maxsize=8)
def _filesystem(query: str) -> pafs.S3FileSystem:
    options = dict(parse_qsl(query))
    endpoint = options.pop("endpoint_override", None) or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
        "AWS_ENDPOINT_URL")
    if endpoint:
        parsed = urlsplit(endpoint)
        if parsed.scheme in ("http", "https"):
            options.setdefault("scheme", parsed.scheme)
            endpoint = parsed.netloc + parsed.path.rstrip("/")
        options["endpoint_override"] = endpoint
    options.setdefault("region", os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1")
    allowed = {"region", "scheme", "endpoint_override", "force_virtual_addressing", "anonymous", "role_arn",
               "session_name", "external_id", "tls_ca_file_path", "request_timeout", "connect_timeout"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise UsageError(f"s3:// URL option {unknown[0]!r} is not supported; use one of {', '.join(sorted(allowed))} "
                         "(credentials come from the AWS environment variables or profile, never from the URL)")
    for flag in ("force_virtual_addressing", "anonymous"):
        if flag in options:
            options[flag] = options[flag].lower() in ("1", "true", "yes")
    for number in ("request_timeout", "connect_timeout"):
        if number in options:
            options[number] = float(options[number])
    return pafs.S3FileSystem(**options)


@dataclass(frozen=True)
class _Stat:
    st_size: int


class ObjectPath:
    """A key (or key prefix) in an S3 bucket, with the subset of `pathlib.Path` the store needs."""

    def __init__(self, key: str, query: str = ""):
        self.key = str(PurePosixPath(key)) if key else key
        self.query = query

    @classmethod
    def from_uri(cls, uri: str) -> ObjectPath:
        parsed = urlsplit(uri)
        if not parsed.netloc:
            raise UsageError(f"{uri}: expected s3://BUCKET/PREFIX")
        if parsed.username or parsed.password:
            raise UsageError("s3:// URLs take no credentials: use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a profile")
        query = urlencode(sorted(parse_qsl(parsed.query)))
        return cls(f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/"), query)

    # --- identity ---------------------------------------------------------------------------
    @property
    def fs(self) -> pafs.S3FileSystem:
        return _filesystem(self.query)

    @property
    def uri(self) -> str:
        return f"s3://{self.key}" + (f"?{self.query}" if self.query else "")

    def __str__(self) -> str:  # shown to people: without the options
        return f"s3://{self.key}"

    def __repr__(self) -> str:
        return f"ObjectPath({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, ObjectPath) and (self.key, self.query) == (other.key, other.query)

    def __hash__(self) -> int:
        return hash((self.key, self.query))

    def __lt__(self, other: ObjectPath) -> bool:
        return self.key < other.key

    # --- path arithmetic --------------------------------------------------------------------
    def __truediv__(self, part: str) -> ObjectPath:
        return ObjectPath(f"{self.key}/{part}", self.query)

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.key).stem

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(str(PurePosixPath(self.key).parent), self.query)

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    def relative_to(self, other: ObjectPath) -> PurePosixPath:
        return PurePosixPath(self.key).relative_to(other.key)

    def as_posix(self) -> str:
        return str(self)

    # --- queries ----------------------------------------------------------------------------
    def _info(self) -> pafs.FileInfo:
        return self.fs.get_file_info(self.key)

    def exists(self) -> bool:
        return self._info().type != pafs.FileType.NotFound

    def is_dir(self) -> bool:
        return self._info().type == pafs.FileType.Directory

    def stat(self) -> _Stat:
        info = self._info()
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(2, "no such object", str(self))
        return _Stat(info.size)

    def _listing(self) -> list[pafs.FileInfo]:
        return self.fs.get_file_info(pafs.FileSelector(self.key, recursive=True, allow_not_found=True))

    def iterdir(self):
        prefix = self.key + "/"
        children = {info.path[len(prefix):].split("/", 1)[0] for info in self._listing()}
        return iter(sorted(self / child for child in children))

    def sizes(self, pattern: str) -> dict[ObjectPath, int]:
        """Objects (not prefixes) whose path below this one matches `pattern` segment by segment,
        with their sizes: one listing."""
        parts = pattern.split("/")
        found = {}
        for info in self._listing():
            if info.type != pafs.FileType.File:
                continue
            rel = info.path[len(self.key) + 1:].split("/")
            if len(rel) == len(parts) and all(fnmatch.fnmatchcase(r, p) for r, p in zip(rel, parts)):
                found[ObjectPath(info.path, self.query)] = info.size
        return dict(sorted(found.items()))

    def glob(self, pattern: str) -> list[ObjectPath]:
        return list(self.sizes(pattern))

    # --- contents ---------------------------------------------------------------------------
    def open_input_file(self):
        """A random-access file (Parquet reads only the footer and the column chunks it needs)."""
        return self.fs.open_input_file(self.key)

    def open(self, mode: str = "rb"):
        if mode != "rb":
            raise ValueError("ObjectPath.open reads only; writes go through evkit.store.files")
        return self.fs.open_input_stream(self.key)

    def read_bytes(self) -> bytes:
        with self.fs.open_input_stream(self.key) as stream:
            return stream.read()

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def write_bytes(self, data: bytes) -> None:
        """One PUT: the object appears whole or not at all."""
        with self.fs.open_output_stream(self.key) as stream:
            stream.write(data)

    def upload(self, local: Path) -> None:
        """Copy a finished local file to this key (a multipart upload completes only at the end)."""
        pafs.copy_files(str(local), self.key, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs)

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Object storage has no directories: a prefix exists once an object is under it."""

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise


def parquet_source(path: Path | ObjectPath):
    """What pyarrow.parquet reads: the local path, or a random-access file over the object."""
    return path.open_input_file() if isinstance(path, ObjectPath) else path


def register_objects(connection, files: list[ObjectPath], scratch: Path, *, rows: int) -> str:
    """Let DuckDB read these objects with its own Parquet reader, and return the SQL of a relation
    over them (the record columns).

    The DuckDB wheel has no httpfs, so pyarrow's S3 filesystem is registered with the connection as
    an fsspec filesystem under a protocol of its own. DuckDB then reads objects like local files:
    within its `memory_limit` (an Arrow dataset scanned through DuckDB held batches and read-ahead
    outside that limit: 12 GB over 10M records), only the column chunks a query needs, footers and
    row-group statistics deciding which row groups to fetch. Each key's `topic=<t>/partition=<n>/`
    directories are hive partitions, so a filter on either skips the other objects unopened. The
    schema comes from an empty local file listed first (in `scratch`): DuckDB binds a query to the
    first file's schema, and an object would be fetched for that on every query. DuckDB would also
    estimate the row count from that file (none), and then build hash joins on the records side
    (a hash table of every record: out of memory), so `rows`, the manifests' count, is given."""
    from .records import RECORD_SCHEMA

    schema_file = scratch / "topic=_" / "partition=-1" / "schema.parquet"
    if not schema_file.exists():
        import pyarrow.parquet as pq

        schema_file.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(RECORD_SCHEMA.empty_table(), schema_file)
    paths = ", ".join("'" + path.replace("'", "''") + "'" for path in [str(schema_file), *duckdb_paths(connection, files)])
    return (f"read_parquet([{paths}], hive_partitioning = true, "
            "hive_types = {'topic': VARCHAR, 'partition': INTEGER}, hive_types_autocast = false, "
            f"explicit_cardinality = {rows})")


def duckdb_paths(connection, files: list[ObjectPath]) -> list[str]:
    """The objects' paths for DuckDB's file functions on `connection`: pyarrow's S3 filesystem is
    registered with it as an fsspec filesystem under a protocol of its own, one per set of URL options."""
    protocol = "evkits3" + hashlib.sha1(files[0].query.encode()).hexdigest()[:12]
    if not connection.filesystem_is_registered(protocol):
        connection.register_filesystem(_DuckDBObjects(files[0].fs, protocol))
    return [f"{protocol}://{f.key}" for f in files]


class _DuckDBObjects(ArrowFSWrapper):
    """A pyarrow filesystem as fsspec's, named by a protocol DuckDB routes `<protocol>://key` paths to."""

    def __init__(self, fs: pafs.FileSystem, protocol: str):
        super().__init__(fs, skip_instance_cache=True)
        self._protocol = protocol

    @property
    def protocol(self) -> str:
        return self._protocol

    def _strip_protocol(self, path: str) -> str:  # fsspec's is a classmethod of one fixed protocol
        return path.split("://", 1)[1] if path.startswith("evkits3") else path
