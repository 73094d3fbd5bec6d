"""Exact fault points for dump tests: a dump run with EVKIT_TEST_STOP_AFTER_FILES=N stops itself
(SIGSTOP) once its reading process has committed N files (evkit/cluster/reader.py); these helpers
find that stopped process, so a test kills the dump, or stops the broker, at that point instead of
racing a dump that may already be done."""
from __future__ import annotations

import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The pids of `pid`'s child processes (a dump's workers)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def state(pid: int) -> str | None:
    """The process state letter (R, S, T = stopped, Z = zombie, ...), None once it is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def stopped_process(pid: int) -> int | None:
    """The pid of the dump `pid` or of one of its workers that stopped itself, if one has."""
    return next((each for each in [pid, *children(pid)] if state(each) == "T"), None)


def wait_until_stopped(proc, what: str, timeout: float = 120) -> int:
    """Wait for the dump subprocess `proc` to stop itself at its stop point; it must not end first."""
    deadline = time.monotonic() + timeout
    while (stopped := stopped_process(proc.pid)) is None and proc.poll() is None:
        assert time.monotonic() < deadline, f"{what}: the dump did not reach its stop point within {timeout}s"
        time.sleep(0.01)
    assert proc.poll() is None, f"{what}: the dump ended before its stop point"
    return stopped


def wait_for_exit(pids: list[int], timeout: float = 30) -> None:
    """Workers die with their killed parent (PR_SET_PDEATHSIG): wait until none is left to write on."""
    deadline = time.monotonic() + timeout
    while alive := [pid for pid in pids if state(pid) not in (None, "Z", "X")]:
        assert time.monotonic() < deadline, f"dump workers {alive} outlived their killed parent"
        time.sleep(0.05)
