"""What the test servers' scripts (kafkactl.py, registryctl.py, s3ctl.py) share: a free port, a
process check, the state file, stopping a server's process group, and the up/down/status command line.

Each script starts its server in its own process group and records `{"pid": ..., <address>: ...}`
in `<state dir>/<name>.json`; `up` is idempotent while the recorded server answers.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) still answers kill(0).
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def read_state(state_dir: Path, name: str) -> dict | None:
    """The state `<state_dir>/<name>.json` records, or None."""
    try:
        return json.loads((state_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None


def stop(state_dir: Path, name: str, timeout: float) -> bool:
    """Stop the process group recorded in `<state_dir>/<name>.json` (TERM, then KILL after `timeout`
    seconds) and forget it; True if it was running."""
    state = read_state(state_dir, name)
    if not state:
        return False
    pid = state["pid"]
    was_running = alive(pid)
    if was_running:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.killpg(pid, signal.SIGKILL)
            while alive(pid):
                time.sleep(0.05)
    (state_dir / f"{name}.json").unlink(missing_ok=True)
    return was_running


def main(argv: list[str] | None, *, doc: str, prog: str, what: str, env_var: str, default_dir: Path,
         default_timeout: float, up: Callable[[Path, float], str], down: Callable[[Path], bool],
         status: Callable[[Path], str | None], errors: tuple[type[BaseException], ...]) -> int:
    """`<prog> up|down|status [--dir DIR] [--timeout S]`: up prints the address as its last line."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get(env_var, default_dir)),
                        help=f"state directory (default: {default_dir.name}/ in the repo; {env_var})")
    parser.add_argument("--timeout", type=float, default=default_timeout, help=f"seconds to wait for the {what}")
    args = parser.parse_args(argv)
    state_dir = args.dir.resolve()
    try:
        if args.command == "up":
            print(up(state_dir, args.timeout))
        elif args.command == "down":
            print("stopped" if down(state_dir) else f"no {what} was running")
        else:
            address = status(state_dir)
            print(address or "down")
            return 0 if address else 1
    except errors as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return 0
