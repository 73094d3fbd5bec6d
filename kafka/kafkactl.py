#!/usr/bin/env python3
"""Start and stop a single-node Apache Kafka (KRaft) on 127.0.0.1 for evkit's tests and demos.

The broker runs from the jars that kafka/pom.xml resolves from Maven Central (`mvn
dependency:copy-dependencies` into kafka/target/lib). Standard library only, so it runs before
the project's virtualenv exists.

    python3 kafka/kafkactl.py up   [--dir DIR] [--timeout S]   # last stdout line: bootstrap address
    python3 kafka/kafkactl.py down [--dir DIR]
    python3 kafka/kafkactl.py status [--dir DIR]

`up` is idempotent: while the broker recorded in DIR answers, it prints the same address and starts
nothing. If the broker does not answer a metadata request before the deadline, `up` stops it, prints
the tail of its log to stderr and exits 1.
"""
from __future__ import annotations

import base64
import json
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIB = HERE / "target" / "lib"
DEFAULT_DIR = HERE.parent / ".kafka"
sys.path.insert(0, str(HERE))
import servicectl  # noqa: E402 - beside this script
from servicectl import alive, free_port, read_state, stop  # noqa: E402

SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}{extra_listeners}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}{extra_advertised}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT{extra_protocol_map}
log.dirs={data_dir}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.cleaner.backoff.ms=500
# Keep records forever unless a topic says otherwise: sample and test data carry historical
# timestamps, which the default 7-day time retention would delete while a test reads them.
log.retention.ms=-1
log.retention.check.interval.ms=1000
"""

LOG4J2 = """\
status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = {log_file}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
"""


class BrokerError(Exception):
    """The broker could not be started or stopped."""




def metadata_brokers(host: str, port: int, timeout: float = 2.0) -> tuple[list[tuple[int, str, int]], str | None]:
    """Send a Metadata v4 request (no topics) and return (brokers, cluster_id).

    Kafka 4.x removed Metadata v0-v3 (KIP-896); v4 uses request header v1 and response header v0.
    """
    client_id = b"kafkactl"
    body = struct.pack(">hhih", 3, 4, 1, len(client_id)) + client_id + struct.pack(">i?", 0, False)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        data = _recv_exact(sock, size)
    pos = 8  # correlation id, throttle_time_ms
    (count,) = struct.unpack_from(">i", data, pos)
    pos += 4
    brokers = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", data, pos)
        pos += 6
        broker_host = data[pos : pos + host_len].decode()
        pos += host_len
        (broker_port, rack_len) = struct.unpack_from(">ih", data, pos)
        pos += 6 + max(rack_len, 0)
        brokers.append((node_id, broker_host, broker_port))
    (cluster_len,) = struct.unpack_from(">h", data, pos)
    pos += 2
    cluster_id = data[pos : pos + cluster_len].decode() if cluster_len >= 0 else None
    return brokers, cluster_id


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    chunks = b""
    while len(chunks) < n:
        chunk = sock.recv(n - len(chunks))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        chunks += chunk
    return chunks


def _answers(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    try:
        brokers, _ = metadata_brokers(host, int(port))
    except (OSError, struct.error, UnicodeDecodeError):
        return False
    return len(brokers) >= 1






def _log_tail(state_dir: Path, lines: int = 40) -> str:
    parts = []
    for name in ("server.log", "stdout.log"):
        path = state_dir / "logs" / name
        if path.exists():
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
    return "\n".join(parts) or f"(no log in {state_dir / 'logs'})"


def ensure_jars() -> None:
    if LIB.is_dir() and any(LIB.glob("kafka_2.13-*.jar")):
        return
    print("resolving Apache Kafka jars from Maven Central (kafka/pom.xml) ...", file=sys.stderr)
    subprocess.run(
        ["mvn", "-q", "-B", "-Dstyle.color=never", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
         "-DoutputDirectory=target/lib", "-DincludeScope=runtime"],
        check=True, stdout=sys.stderr,  # Maven's output stays off stdout, whose last line is the address
    )


def java_command(main: str, *args: str, log4j: Path | None = None) -> list[str]:
    cmd = ["java", "-Xms256m", "-Xmx1g", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
    if log4j is not None:
        cmd.append(f"-Dlog4j2.configurationFile={log4j}")
    return cmd + ["-cp", f"{LIB}/*", main, *args]


def up(state_dir: Path, timeout: float = 120.0, extra: dict | None = None) -> str:
    """Start the broker in the background (or find the running one); return its bootstrap address.

    `extra` adds listeners and properties (used by the security tests); it is keyed by
    `listeners`, `advertised`, `protocol_map` (each a ",..." suffix), `properties` (text),
    `format_args` (extra StorageTool format arguments).
    """
    state = read_state(state_dir, "broker")
    if state and alive(state["pid"]) and _answers(state["bootstrap"]):
        return state["bootstrap"]
    if state and alive(state["pid"]):
        down(state_dir)
    ensure_jars()
    extra = extra or {}
    state_dir.mkdir(parents=True, exist_ok=True)
    data_dir, logs_dir = state_dir / "data", state_dir / "logs"
    for d in (data_dir, logs_dir):
        if d.exists():
            subprocess.run(["rm", "-rf", str(d)], check=True)
        d.mkdir(parents=True)
    port, controller_port = free_port(), free_port()
    props = state_dir / "server.properties"
    props.write_text(
        SERVER_PROPERTIES.format(
            port=port, controller_port=controller_port, data_dir=data_dir,
            extra_listeners=extra.get("listeners", ""), extra_advertised=extra.get("advertised", ""),
            extra_protocol_map=extra.get("protocol_map", ""),
        )
        + extra.get("properties", "")
    )
    log4j = state_dir / "log4j2.properties"
    log4j.write_text(LOG4J2.format(log_file=logs_dir / "server.log"))
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    fmt = subprocess.run(
        java_command("kafka.tools.StorageTool", "format", "--standalone", f"--cluster-id={cluster_id}",  # "=": ids may start with "-"
                     "-c", str(props), *extra.get("format_args", []), log4j=log4j),
        capture_output=True, text=True,
    )
    if fmt.returncode != 0:
        raise BrokerError(f"formatting the log directory failed:\n{fmt.stdout}{fmt.stderr}")
    with open(logs_dir / "stdout.log", "wb") as out:
        proc = subprocess.Popen(
            java_command("kafka.Kafka", str(props), log4j=log4j),
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    bootstrap = f"127.0.0.1:{port}"
    (state_dir / "broker.json").write_text(
        json.dumps({"pid": proc.pid, "bootstrap": bootstrap, "cluster_id": cluster_id,
                    "controller_port": controller_port})
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers(bootstrap):
            return bootstrap
        time.sleep(0.2)
    tail = _log_tail(state_dir)
    down(state_dir)
    reason = "exited" if proc.poll() is not None else f"did not answer within {timeout:.0f}s"
    raise BrokerError(f"Kafka broker {reason}.\n{tail}")


def down(state_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the broker recorded in state_dir and its process group; True if one was running."""
    return stop(state_dir, "broker", timeout)


def main(argv: list[str] | None = None) -> int:
    return servicectl.main(argv, doc=__doc__, prog="kafkactl", what="broker", env_var="EVKIT_KAFKA_DIR", default_dir=DEFAULT_DIR,
                           default_timeout=120.0, up=up, down=down, status=status, errors=(BrokerError, subprocess.CalledProcessError))


def status(state_dir: Path) -> str | None:
    """The address of the server recorded in state_dir while it answers, else None."""
    state = read_state(state_dir, "broker")
    return state["bootstrap"] if state and alive(state["pid"]) and _answers(state["bootstrap"]) else None


if __name__ == "__main__":
    sys.exit(main())
