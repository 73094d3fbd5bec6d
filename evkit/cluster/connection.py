"""A read-only Kafka connection: client configuration, secret redaction, and errors a person can read.

Every librdkafka property can be given (`-X key=value`, `-F file`), as kcat users expect; evkit adds
only what keeps it read-only: a throwaway group id that is never joined, and no offset commits or
offset store. librdkafka's own log lines go to the `evkit.librdkafka` logger.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka.admin import AdminClient, ConfigResource

from ..errors import (
    AuthenticationFailed,
    BrokerUnreachable,
    ClusterError,
    NotAuthorized,
    UnknownTopic,
    UsageError,
)

# Errors that pass once the partition has a leader again (librdkafka does not always mark them retriable).
_LEADERSHIP_CHANGES = (RdKafkaError.NOT_LEADER_FOR_PARTITION, RdKafkaError.LEADER_NOT_AVAILABLE)

REDACTED = "[redacted]"
_SECRET = re.compile(r"password|passwd|secret|token|jaas|credential|private|user\.info|\.pem$|oauthbearer\.config|sasl\.oauthbearer\.client", re.I)
# Settings evkit owns so that a dump never joins a group or commits an offset.
READ_ONLY = {"enable.auto.commit": "false", "enable.auto.offset.store": "false"}
# Throughput and memory defaults (any -X overrides them). librdkafka's 1 MiB per-partition fetch
# halves the rate of a Python consumer on small records; its 64 MiB per-partition prefetch queue
# makes memory grow with the partition count. The queue gets a 128 MiB budget shared by the
# partitions a consumer reads, 1-8 MiB each (benchmarks/bench_dump.py, docs/benchmarks.md).
# A full queue makes librdkafka (>= 2.1) wait fetch.queue.backoff.ms, 1 s by default, before it fetches
# that partition again; with a capped queue and a fast reader that wait is most of a dump's time, so
# evkit waits 10 ms (0 spins the broker thread).
FETCH_MAX_BYTES = 4 * 1024 * 1024
PREFETCH_BUDGET_KB = 128 * 1024
FETCH_QUEUE_BACKOFF_MS = 10


def fetch_defaults(partitions: int) -> dict[str, str]:
    queue_kb = max(1024, min(8 * 1024, PREFETCH_BUDGET_KB // max(partitions, 1)))
    return {"fetch.message.max.bytes": str(FETCH_MAX_BYTES), "queued.max.messages.kbytes": str(queue_kb),
            "fetch.queue.backoff.ms": str(FETCH_QUEUE_BACKOFF_MS)}


TOPIC_CONFIGS_RECORDED = ("cleanup.policy", "message.timestamp.type", "retention.ms", "retention.bytes",
                          "min.compaction.lag.ms", "delete.retention.ms", "max.message.bytes")

log = logging.getLogger("evkit.librdkafka")


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


def redact(config: dict[str, str]) -> dict[str, str]:
    """A copy of a client configuration with every secret-looking value replaced."""
    return {k: (REDACTED if is_secret(k) else v) for k, v in config.items()}


def read_properties(path: str | Path) -> dict[str, str]:
    """Read a Java-style properties file (`key=value`, `#`/`!` comments) as kcat's -F does."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise UsageError(f"cannot read properties file {path}: {exc.strerror}") from None
    props = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{path}:{number}: expected key=value")
        props[key.strip()] = value.strip()
    return props


def parse_settings(pairs: list[str] | tuple[str, ...] | dict | None) -> dict[str, str]:
    """`-X key=value` pairs (or a dict) as a dict of strings."""
    if pairs is None:
        return {}
    if isinstance(pairs, dict):
        return {str(k): str(v) for k, v in pairs.items()}
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-X {pair!r}: expected key=value")
        settings[key] = value
    return settings


def resolve_client_config(bootstrap: str | None, *, client_config: dict | list | tuple | None = None,
                          client_config_file: str | Path | None = None) -> dict[str, str]:
    """The librdkafka properties of a connection: the properties file (`-F`), then `client_config`
    (`-X key=value`, or a dict), then `bootstrap`; refuse anything that would commit."""
    merged = read_properties(client_config_file) if client_config_file else {}
    merged.update(parse_settings(client_config))
    if bootstrap:
        merged["bootstrap.servers"] = bootstrap
    if not merged.get("bootstrap.servers"):
        raise UsageError("no bootstrap servers: give --bootstrap HOST:PORT (or bootstrap.servers in -X/-F)")
    for key, value in READ_ONLY.items():
        if merged.get(key, value).lower() != value:
            raise UsageError(f"{key}={merged[key]} is not allowed: evkit never commits or stores offsets")
    return merged


class Connection:
    """A consumer that is never subscribed (only assign()) plus the admin calls a dump needs.

    Errors reported by librdkafka's error callback (authentication, TLS, all brokers down) are kept
    so that a wait can fail with the real reason instead of a bare timeout.
    """

    def __init__(self, config: dict[str, str], *, isolation: str, timeout: float = 30.0, partitions: int = 1):
        self.timeout = timeout
        self.errors: list[RdKafkaError] = []
        self.config = dict(config)
        self.isolation = isolation
        self.partitions = partitions
        try:
            self.consumer = self._consumer()
            self.admin = AdminClient({**admin_settings(config), "error_cb": self.errors.append}, logger=log)
        except KafkaException as exc:
            raise UsageError(f"invalid client configuration: {exc.args[0].str()}") from None

    def consumer_config(self) -> dict[str, str]:
        """The librdkafka properties of a dump's consumer: assign only, read-only, sized for its partitions."""
        return {
            "group.id": f"evkit-dump-{uuid.uuid4().hex[:12]}",
            "auto.offset.reset": "error",
            "enable.partition.eof": "true",
            "isolation.level": self.isolation,
            "client.id": "evkit-dump",
            **fetch_defaults(self.partitions),
            **self.config,
            **READ_ONLY,
        }

    def _consumer(self) -> Consumer:
        return Consumer({**self.consumer_config(), "error_cb": self.errors.append}, logger=log)

    def size_for(self, partitions: int) -> None:
        """Give the consumer the fetch and prefetch budget for reading `partitions` partitions (a
        fresh consumer when it differs), so that one connection serves a dump from plan to manifest."""
        if partitions != self.partitions:
            self.consumer.close()
            self.partitions = partitions
            self.consumer = self._consumer()

    def close(self) -> None:
        self.consumer.close()

    def raise_for_errors(self) -> None:
        """Turn a fatal or authentication error seen by the error callback into one clear line."""
        self.admin.poll(0)  # serve the admin handle's error callbacks: list_topics() serves none of the consumer's
        for err in self.errors:
            code = err.code()
            if code in (RdKafkaError._AUTHENTICATION, RdKafkaError.SASL_AUTHENTICATION_FAILED):
                raise AuthenticationFailed(f"authentication failed: {_first_line(err.str())}")
            if code == RdKafkaError._SSL:
                raise AuthenticationFailed(f"TLS handshake failed: {_first_line(err.str())}")
            if err.fatal():
                raise ClusterError(f"fatal client error: {_first_line(err.str())}")

    def metadata(self, topic: str | None = None):
        """Cluster metadata, waiting (bounded) for a broker; raises a clear error when none answers."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return self.consumer.list_topics(topic, timeout=min(5.0, self.timeout))
            except KafkaException as exc:
                self.raise_for_errors()
                if time.monotonic() >= deadline:
                    raise BrokerUnreachable(
                        f"no broker at {self.config['bootstrap.servers']} answered within {self.timeout:.0f}s "
                        f"({_first_line(exc.args[0].str())})"
                    ) from None

    def watermarks(self, topic: str, partition: int) -> tuple[int, int]:
        """(low, end) for this connection's isolation level: end is the LSO under read_committed."""
        return self._retrying(lambda: self.consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=self.timeout, cached=False), topic, partition, "read the watermarks of")

    def _retrying(self, call, topic: str, partition: int, what: str):
        """call(), again while it fails with a retriable error (a leader election, a partition not yet
        led after its topic was created) until the connection's timeout; else the one-line error."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                return call()
            except KafkaException as exc:
                self.raise_for_errors()
                error = exc.args[0]
                passing = error.retriable() or error.code() in _LEADERSHIP_CHANGES
                if not passing or time.monotonic() >= deadline:
                    raise describe_error(error, topic, partition, what) from None
                time.sleep(0.2)

    def offsets_for_time(self, topic: str, partition: int, timestamp_ms: int) -> int | None:
        """The first offset whose timestamp is >= timestamp_ms, or None if there is none yet."""
        (found,) = self._retrying(lambda: self.consumer.offsets_for_times(
            [TopicPartition(topic, partition, timestamp_ms)], timeout=self.timeout), topic, partition,
            "look up offsets by time in")
        if found.error is not None:
            raise describe_error(found.error, topic, partition, "look up offsets by time in")
        return found.offset if found.offset >= 0 else None

    def topic_configs(self, topics: list[str]) -> dict[str, dict[str, str] | None]:
        """The configs the analysis needs (cleanup policy, timestamp type, retention) per topic;
        None for a topic whose configs this principal may not describe."""
        resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in topics]
        result: dict[str, dict[str, str] | None] = {}
        if not resources:
            return result
        futures = self.admin.describe_configs(resources, request_timeout=self.timeout)
        for resource, future in futures.items():
            try:
                entries = future.result(self.timeout)
            except KafkaException as exc:
                if exc.args[0].code() == RdKafkaError.TOPIC_AUTHORIZATION_FAILED:
                    log.warning("not authorised to describe the configs of %s", resource.name)
                    result[resource.name] = None
                    continue
                raise describe_error(exc.args[0], resource.name, None, "describe the configs of") from None
            result[resource.name] = {k: entries[k].value for k in TOPIC_CONFIGS_RECORDED if k in entries}
        return result


def admin_settings(config: dict[str, str]) -> dict[str, str]:
    """The properties of `config` an admin or producer client takes (consumer-only ones left out)."""
    return {k: v for k, v in config.items() if not _consumer_only(k)}


def _consumer_only(key: str) -> bool:
    return key.startswith(("fetch.", "queued.", "isolation.", "auto.offset", "enable.partition", "check.crcs",
                           "group.", "max.partition.fetch", "session.timeout", "heartbeat.", "enable.auto"))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def describe_error(err: RdKafkaError, topic: str, partition: int | None, action: str) -> ClusterError:
    """A one-line evkit error for a librdkafka error on a topic/partition, naming the missing ACL."""
    where = topic if partition is None else f"{topic}[{partition}]"
    code = err.code()
    if code == RdKafkaError.TOPIC_AUTHORIZATION_FAILED:
        needed = "READ" if action == "read" else "DESCRIBE" if "configs" not in action else "DESCRIBE_CONFIGS"
        return NotAuthorized(f"not authorised to {action} {where}: the principal needs the Topic {needed} ACL on {topic}")
    if code == RdKafkaError.CLUSTER_AUTHORIZATION_FAILED:
        return NotAuthorized(f"not authorised to {action} {where}: the principal needs the Cluster DESCRIBE ACL")
    if code in (RdKafkaError.UNKNOWN_TOPIC_OR_PART, RdKafkaError._UNKNOWN_TOPIC, RdKafkaError._UNKNOWN_PARTITION):
        return UnknownTopic(f"cannot {action} {where}: no such topic or partition")
    if code in (RdKafkaError._TRANSPORT, RdKafkaError._ALL_BROKERS_DOWN, RdKafkaError._TIMED_OUT):
        return BrokerUnreachable(f"cannot {action} {where}: {_first_line(err.str())}")
    return ClusterError(f"cannot {action} {where}: {_first_line(err.str())}")
