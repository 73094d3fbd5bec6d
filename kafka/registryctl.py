#!/usr/bin/env python3
"""Start and stop a Schema Registry on 127.0.0.1 for evkit's tests and demos.

The registry is Apicurio Registry (Apache-2.0) with in-memory storage, reached through its
Confluent-compatible API, so confluent-kafka's SchemaRegistryClient, serializers and deserializers
talk to it as to Confluent's. kafka/registry-pom.xml resolves and unpacks it from Maven Central
(`make registry-app`) into kafka/target/registry. Standard library only, like kafkactl.py.

    python3 kafka/registryctl.py up   [--dir DIR] [--timeout S]   # last stdout line: the registry URL
    python3 kafka/registryctl.py down [--dir DIR]
    python3 kafka/registryctl.py status [--dir DIR]

The URL is http://127.0.0.1:PORT/apis/ccompat/v7 (what `schema.registry.url` / `url` takes). `up`
is idempotent: while the registry recorded in DIR answers, it prints the same URL and starts
nothing. If `GET /subjects` does not answer before the deadline, `up` stops the registry, prints the
tail of its log to stderr and exits 1.
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
APP_DIR = HERE / "target" / "registry"
DEFAULT_DIR = HERE.parent / ".kafka-registry"
sys.path.insert(0, str(HERE))
import servicectl  # noqa: E402 - beside this script
from servicectl import alive, free_port, read_state, stop  # noqa: E402
API_PATH = "/apis/ccompat/v7"


class RegistryError(Exception):
    """The registry could not be started or stopped."""




def answers(url: str, timeout: float = 2.0) -> bool:
    """True when GET {url}/subjects returns a JSON list (the Confluent API is being served)."""
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=timeout) as resp:
            return resp.status == 200 and isinstance(json.loads(resp.read()), list)
    except (OSError, ValueError, urllib.error.URLError):
        return False






def _log_tail(state_dir: Path, lines: int = 40) -> str:
    path = state_dir / "logs" / "registry.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text)


def runner_jar() -> Path:
    """The unpacked Apicurio runner jar; resolved with Maven first when it is missing."""
    jars = sorted(APP_DIR.glob("apicurio-registry-app-*-runner.jar"))
    if not jars:
        print("resolving Apicurio Registry from Maven Central (kafka/registry-pom.xml) ...", file=sys.stderr)
        subprocess.run(
            ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(HERE / "registry-pom.xml"), "dependency:unpack"],
            check=True, stdout=sys.stderr,
        )
        jars = sorted(APP_DIR.glob("apicurio-registry-app-*-runner.jar"))
    if not jars:
        raise RegistryError(f"no apicurio-registry-app-*-runner.jar in {APP_DIR} after `mvn dependency:unpack`")
    return jars[-1]


def java_command(jar: Path, port: int) -> list[str]:
    # C1 only and the serial GC: the registry starts in about half the time on a busy 2-core
    # machine, and a test's load never needs the optimising compiler.
    return [
        "java", "-Xms64m", "-Xmx512m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Djava.awt.headless=true",
        "-Dquarkus.http.host=127.0.0.1", f"-Dquarkus.http.port={port}",
        "-Dquarkus.console.color=false",
        "-jar", str(jar),
    ]


def up(state_dir: Path, timeout: float = 120.0) -> str:
    """Start the registry in the background (or find the running one); return its ccompat URL."""
    state = read_state(state_dir, "registry")
    if state and alive(state["pid"]) and answers(state["url"]):
        return state["url"]
    if state and alive(state["pid"]):
        down(state_dir)
    jar = runner_jar()
    logs_dir = state_dir / "logs"
    logs_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}{API_PATH}"
    with open(logs_dir / "registry.log", "wb") as out:
        proc = subprocess.Popen(
            java_command(jar, port), cwd=state_dir,
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    (state_dir / "registry.json").write_text(json.dumps({"pid": proc.pid, "url": url, "port": port}))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if answers(url):
            return url
        time.sleep(0.2)
    tail = _log_tail(state_dir)
    down(state_dir)
    reason = "exited" if proc.poll() is not None else f"did not answer within {timeout:.0f}s"
    raise RegistryError(f"Schema Registry (Apicurio) {reason}.\n{tail}")


def down(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the registry recorded in state_dir and its process group; True if one was running."""
    return stop(state_dir, "registry", timeout)


def main(argv: list[str] | None = None) -> int:
    return servicectl.main(argv, doc=__doc__, prog="registryctl", what="registry", env_var="EVKIT_REGISTRY_DIR", default_dir=DEFAULT_DIR,
                           default_timeout=120.0, up=up, down=down, status=status, errors=(RegistryError, subprocess.CalledProcessError, OSError))


def status(state_dir: Path) -> str | None:
    """The address of the server recorded in state_dir while it answers, else None."""
    state = read_state(state_dir, "registry")
    return state["url"] if state and alive(state["pid"]) and answers(state["url"]) else None


if __name__ == "__main__":
    sys.exit(main())
