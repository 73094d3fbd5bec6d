#!/usr/bin/env python3
"""Start and stop an S3-compatible server on 127.0.0.1 for evkit's tests and demos.

The server is moto's (PyPI `moto[server]`, Apache-2.0), run as `python -m moto.server` with the
interpreter that runs this script (the venv's: `make s3-up`). It keeps buckets and objects in
memory and takes any access key, so tests set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to dummies.
Why moto and not versitygw: it installs with pip like the rest of the test tooling (no Go build),
starts in about a second, and speaks the S3 calls evkit makes (list, ranged GET, PUT, multipart).

    python kafka/s3ctl.py up   [--dir DIR] [--timeout S]   # last stdout line: the endpoint URL
    python kafka/s3ctl.py down [--dir DIR]
    python kafka/s3ctl.py status [--dir DIR]

`up` is idempotent: while the server recorded in DIR answers, it prints the same endpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent / ".kafka-s3"
sys.path.insert(0, str(HERE))
from registryctl import _alive, free_port  # noqa: E402 - the same process helpers


class S3Error(Exception):
    """The server could not be started or stopped."""


def answers(endpoint: str, timeout: float = 2.0) -> bool:
    """True when the server lists buckets (GET / answers 200 with XML)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/", timeout=timeout) as resp:
            return resp.status == 200 and b"ListAllMyBucketsResult" in resp.read()
    except (OSError, urllib.error.URLError):
        return False


def _state(state_dir: Path) -> dict | None:
    try:
        return json.loads((state_dir / "s3.json").read_text())
    except (OSError, ValueError):
        return None


def up(state_dir: Path, timeout: float = 60.0) -> str:
    """Start the server in the background (or find the running one); return its endpoint URL."""
    state = _state(state_dir)
    if state and _alive(state["pid"]) and answers(state["endpoint"]):
        return state["endpoint"]
    if state:
        down(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    log = state_dir / "s3.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    (state_dir / "s3.json").write_text(json.dumps({"pid": proc.pid, "endpoint": endpoint}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if answers(endpoint):
            return endpoint
        time.sleep(0.1)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    down(state_dir)
    reason = "exited" if proc.poll() is not None else f"did not answer within {timeout:.0f}s"
    raise S3Error(f"the S3 server (moto) {reason} (is moto[server] installed in {sys.executable}?)\n{tail}")


def down(state_dir: Path, timeout: float = 10.0) -> bool:
    """Stop the server recorded in state_dir; True if one was running."""
    state = _state(state_dir)
    if not state:
        return False
    pid = state["pid"]
    was_running = _alive(pid)
    if was_running:
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
    (state_dir / "s3.json").unlink(missing_ok=True)
    return was_running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("EVKIT_S3_DIR", DEFAULT_DIR)),
                        help="state directory: log, pid, endpoint (default: .kafka-s3/ in the repo)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the server")
    args = parser.parse_args(argv)
    state_dir = args.dir.resolve()
    try:
        if args.command == "up":
            print(up(state_dir, args.timeout))
        elif args.command == "down":
            print("stopped" if down(state_dir) else "no S3 server was running")
        else:
            state = _state(state_dir)
            if state and _alive(state["pid"]) and answers(state["endpoint"]):
                print(state["endpoint"])
            else:
                print("down")
                return 1
    except (S3Error, OSError) as exc:
        print(f"s3ctl: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
