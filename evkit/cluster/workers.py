"""Where a dump's partitions are read: in this process, or split across worker processes.

The Python reader's side of consuming - one object per message - is its bottleneck, and a second
core doubles it; the native reader fetches in C and writes on a thread, so it reads in one process
by default (`default_workers`). Workers (`python -m evkit.cluster.workers`) get their tasks as
JSON on stdin and send progress as JSON lines on stdout; they die with their parent (PR_SET_PDEATHSIG), so a killed dump
never leaves a writer behind, and their hidden temporaries are removed by the next run.
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .. import errors
from .._progress import Progress
from ..errors import EvkitError, ClusterError
from ..store.files import remove_temporaries, write_failure
from ..store.fs import as_path, to_uri
from ..store.manifest import CommittedFile
from .connection import Connection
from .reader import PartitionReader, ReadOptions, ReadTask

log = logging.getLogger("evkit.dump")
# Below this many offsets, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 200_000


def read(conn: Connection, out: Path, tasks: list[ReadTask], options: ReadOptions, *, workers: int,
         progress: Progress, on_commit: Callable[[CommittedFile], None]) -> None:
    """Read every task into `out`, on `conn` in this process or split across `workers` processes;
    `on_commit` gets each committed file as it is committed (so a failed run still lists them)."""
    groups = _balance(tasks, workers)
    log.info("reading with the %s reader in %s", options.reader,
             "this process" if len(groups) <= 1 else f"{len(groups)} worker processes")
    if len(groups) <= 1:
        conn.size_for(len(tasks))
        reader = PartitionReader(conn, out, tasks, options, progress, on_commit)
        progress.start(total=reader.remaining_offsets(), unit="offsets")
        try:
            reader.run()
        except BaseException:
            reader.abort()
            raise
        finally:
            reader.close()
            progress.close()
        return
    _read_in_workers(conn.config, conn.isolation, out, groups, options, progress, on_commit)


def default_workers(reader: str, offsets: int) -> int:
    """How many processes read `offsets` offsets by default. The native reader: one (its fetch runs in C
    with the GIL released and a writer thread overlaps the Parquet writing; a second process only
    competes for the cores, docs/benchmarks.md). The Python reader: one per core up to 4 for ranges
    of PARALLEL_THRESHOLD offsets or more, as its per-message Python work is what limits it."""
    if reader == "native" or offsets < PARALLEL_THRESHOLD:
        return 1
    return min(os.cpu_count() or 1, 4)


def _balance(tasks: list[ReadTask], workers: int) -> list[list[ReadTask]]:
    """Split tasks into at most `workers` groups of similar size (largest first, greedy)."""
    busy = [t for t in tasks if t.read]
    groups: list[list[ReadTask]] = [[] for _ in range(max(1, min(workers, len(busy))))]
    loads = [0] * len(groups)
    for task in sorted(busy, key=lambda t: -sum(e - s for s, e in t.read)):
        lightest = loads.index(min(loads))
        groups[lightest].append(task)
        loads[lightest] += sum(e - s for s, e in task.read)
    return [g for g in groups if g]


class _LineProgress:
    """A worker's progress, sent to the parent as JSON lines on stdout."""

    def __init__(self, stream):
        self.stream = stream

    def _send(self, event: dict) -> None:
        self.stream.write(json.dumps(event) + "\n")
        self.stream.flush()

    def update(self, advance: int, *, records: int, data_bytes: int) -> None:
        self._send({"progress": [advance, records, data_bytes]})

    def status(self, text: str) -> None:
        self._send({"status": text})


def _worker_main() -> int:
    """`python -m evkit.cluster.workers`: read the tasks given as JSON on stdin; events as JSON lines on stdout.

    The client settings travel on stdin, never on the command line, so secrets stay out of `ps`.
    """
    spec = json.loads(sys.stdin.read())
    _die_with_parent(spec["parent"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it stops workers with SIGTERM
    signal.signal(signal.SIGTERM, _exit_on_term)
    events = _LineProgress(sys.stdout)
    tasks = [ReadTask(**t) for t in spec["tasks"]]
    reader = None
    try:
        conn = Connection(spec["settings"], isolation=spec["isolation"], timeout=spec["options"]["timeout"],
                          partitions=len(tasks))
        reader = PartitionReader(conn, as_path(spec["out"]), tasks, ReadOptions(**spec["options"]), events,
                                 lambda committed: events._send({"committed": committed.to_json()}))
        reader.run()
        reader.close()
        conn.close()
    except (EvkitError, OSError) as exc:
        reader and reader.abort()
        if isinstance(exc, OSError):
            exc = write_failure(as_path(spec["out"]), exc)
        events._send({"error": [type(exc).__name__, str(exc)]})
        return 2
    except SystemExit:
        reader and reader.abort()
        raise
    events._send({"done": True})
    return 0


def _exit_on_term(signum, frame) -> None:
    raise SystemExit(143)


def _die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (kill -9 included)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent:
        os._exit(1)


def _read_in_workers(settings: dict, isolation: str, out: Path, groups: list[list[ReadTask]], options: ReadOptions,
                     progress: Progress, on_commit: Callable[[CommittedFile], None]) -> None:
    share = {**asdict(options), "max_rate": options.max_rate / len(groups) if options.max_rate else None}
    total = sum(e - s for g in groups for t in g for s, e in t.read)
    progress.start(total=total, unit="offsets")
    processes = []
    try:
        for group in groups:
            proc = subprocess.Popen([sys.executable, "-m", "evkit.cluster.workers"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE)
            proc.stdin.write(json.dumps({"settings": settings, "isolation": isolation, "out": to_uri(out),
                                         "tasks": [asdict(t) for t in group], "options": share,
                                         "parent": os.getpid()}).encode())
            proc.stdin.close()
            processes.append(proc)
        pending = {proc.stdout.fileno(): (proc, b"") for proc in processes}
        with selectors.DefaultSelector() as selector:
            for fd in pending:
                selector.register(fd, selectors.EVENT_READ)
            while pending:
                for key, _ in selector.select(timeout=1.0):
                    proc, buffered = pending[key.fd]
                    chunk = os.read(key.fd, 1 << 16)
                    *lines, rest = (buffered + chunk).split(b"\n")
                    pending[key.fd] = (proc, rest)
                    for line in lines:
                        _apply_event(json.loads(line), progress, on_commit)
                    if not chunk:
                        selector.unregister(key.fd)
                        del pending[key.fd]
                        if proc.wait() != 0:
                            raise ClusterError(f"a dump worker died (exit code {proc.returncode}); "
                                             "the committed part is kept: re-run the same command to resume")
    finally:
        for proc in processes:
            if proc.poll() is None:
                proc.terminate()
        for proc in processes:
            proc.wait()
        remove_temporaries(out)
        progress.close()


def _apply_event(event: dict, progress: Progress, on_commit: Callable[[CommittedFile], None]) -> None:
    if "committed" in event:
        on_commit(CommittedFile.from_json(event["committed"]))
    elif "progress" in event:
        advance, records, data_bytes = event["progress"]
        progress.update(advance, records=records, data_bytes=data_bytes)
    elif "status" in event:
        progress.status(event["status"])
    elif "error" in event:
        raise getattr(errors, event["error"][0], EvkitError)(event["error"][1])




if __name__ == "__main__":
    sys.exit(_worker_main())
