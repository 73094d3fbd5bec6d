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

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent / ".kafka-s3"
sys.path.insert(0, str(HERE))
import servicectl  # noqa: E402 - beside this script
from servicectl import alive, free_port, read_state, stop  # noqa: E402


class S3Error(Exception):
    """The server could not be started or stopped."""


def answers(endpoint: str, timeout: float = 2.0) -> bool:
    """True when the server lists buckets (GET / answers 200 with XML)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/", timeout=timeout) as resp:
            return resp.status == 200 and b"ListAllMyBucketsResult" in resp.read()
    except (OSError, urllib.error.URLError):
        return False




def up(state_dir: Path, timeout: float = 60.0) -> str:
    """Start the server in the background (or find the running one); return its endpoint URL."""
    state = read_state(state_dir, "s3")
    if state and alive(state["pid"]) and answers(state["endpoint"]):
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
    return stop(state_dir, "s3", timeout)


def main(argv: list[str] | None = None) -> int:
    return servicectl.main(argv, doc=__doc__, prog="s3ctl", what="S3 server", env_var="EVKIT_S3_DIR", default_dir=DEFAULT_DIR,
                           default_timeout=60.0, up=up, down=down, status=status, errors=(S3Error, OSError))


def status(state_dir: Path) -> str | None:
    """The address of the server recorded in state_dir while it answers, else None."""
    state = read_state(state_dir, "s3")
    return state["endpoint"] if state and alive(state["pid"]) and answers(state["endpoint"]) else None


if __name__ == "__main__":
    sys.exit(main())
