"""A seeded sample incident: a sports-betting platform's event streams with documented faults injected.

Five topics carry CloudEvents-style JSON envelopes (`id`, `source`, `type`, `subject`, `sequence`,
`time`, `data`) and W3C `traceparent` headers that link one bet (or one goal) across topics. Every
fault in INCIDENTS can be switched off; with none of them the streams are clean. The same seed gives
the same records, the same offsets and byte-identical Parquet files, so `data/` can be regenerated
and compared. With `bootstrap` it produces exactly the same records (explicit partitions and timestamps) to a
live cluster so the dump of it matches the dataset offset for offset.
"""
from __future__ import annotations

import json
import random
import struct
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..cluster.connection import admin_settings, log, parse_settings, resolve_client_config
from .._text import utc_iso
from ..store.manifest import Manifest, write_manifest
from ..store.records import records_table
from ..store.writer import write_records
from ..errors import ClusterError, UsageError
from .._progress import Progress

# Partition counts of the platform's topics.
TOPICS = {"match-events": 3, "odds-updates": 6, "bets": 6, "auth-attempts": 3, "accounts": 3}
# retention.ms=-1 keeps the (old) synthetic timestamps from being expired at once on a live cluster.
TOPIC_CONFIGS = {topic: {"cleanup.policy": "compact"} if topic == "accounts" else
                 {"cleanup.policy": "delete", "retention.ms": "-1"} for topic in TOPICS}

# Where evkit finds the event fields in these envelopes (the `fields=` mapping / config [defaults]).
FIELDS = {"event_id": "$.id", "entity": "$.subject", "event_time": "$.time",
          "sequence": "$.sequence", "event_type": "$.type", "trace_id": "header:traceparent"}

INCIDENTS = ("republished_range", "lost_events", "late_events", "foreign_partitioner", "int_keys",
             "auth_burst", "growing_document", "schema_change")

# A fixed clock (Saturday 2025-11-22 19:00 UTC) so runs are reproducible. It lies in the past because
# brokers reject timestamps too far in the future (log.message.timestamp.after.max.ms).
START_MS = 1_763_838_000_000
MAIN_PARTITIONER = "java_murmur2"
FOREIGN_PARTITIONER = "sarama_hash"
HEAVY_BETTOR = 1100   # the account whose document grows without bound
BURST_USER = 1337     # the target of the credential-stuffing burst
REPUBLISHED = ("odds-updates", 2, 120)  # topic, partition, how many records the restarted producer re-sends
# One latency for every producer keeps each entity's send order equal to its event-time order, so
# the clean streams have no reordering at all; only the injected late events arrive late.
PRODUCE_LATENCY_MS = 5


@dataclass
class Event:
    """One business event before it is placed on a partition."""

    topic: str
    subject: str
    type: str
    source: str
    event_ms: int
    send_ms: int
    data: dict
    trace: tuple[int, int]
    event_id: str = ""
    key: bytes | None = None
    partitioner: str = MAIN_PARTITIONER
    lost: bool = False
    sequence: int = 0
    partition: int = -1
    offset: int = -1
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    value: bytes = b""


def synth(
    out: str | Path | None = None,
    *,
    seed: int = 7,
    incidents: str | Iterable[str] = "all",
    minutes: int = 20,
    users: int = 400,
    matches: int = 12,
    bootstrap: str | None = None,
    topic_prefix: str = "",
    client_config: dict[str, str] | list[str] | tuple[str, ...] | None = None,
    client_config_file: str | Path | None = None,
    quiet: bool = False,
) -> dict:
    """Generate the sample platform's events and write them as a dataset (`out`) and/or produce them
    to a live cluster (`bootstrap`). Returns a summary with per-topic counts and the ground truth of
    every injected incident (exact topics, partitions, offsets, entities). `client_config` (a dict or
    `key=value` strings) and `client_config_file` are librdkafka properties for that cluster, as
    `evkit.dump` takes them."""
    chosen = parse_incidents(incidents)
    if out is None and bootstrap is None:
        raise UsageError("synth needs an output directory, --bootstrap BOOTSTRAP, or both")
    extra = parse_settings(client_config)  # a bad -X is refused with or without --bootstrap
    settings = None if bootstrap is None else resolve_client_config(
        bootstrap, client_config=extra, client_config_file=client_config_file)
    if minutes < 16 or users < 400 or matches < 3:
        raise UsageError("synth needs --minutes >= 16, --users >= 400 and --matches >= 3 to stage its incidents")
    if out is not None and Path(out).exists() and any(Path(out).iterdir()):
        raise UsageError(f"{out} is not empty; synth writes a fresh dataset, choose a new directory")
    platform = Platform(random.Random(seed), chosen, minutes=minutes, users=users, matches=matches)
    events, truth = platform.generate(topic_prefix)
    summary = {
        "seed": seed, "incidents": truth, "records": len(events),
        "topics": {topic_prefix + t: sum(1 for e in events if e.topic == t) for t in TOPICS},
        "fields": FIELDS, "manifest": None,
    }
    if out is not None:
        summary["manifest"] = write_dataset(Path(out), events, seed=seed, incidents=chosen,
                                            topic_prefix=topic_prefix, minutes=minutes)
    if settings is not None:
        produce(settings, events, topic_prefix=topic_prefix, quiet=quiet)
    return summary


def parse_incidents(incidents: str | Iterable[str]) -> tuple[str, ...]:
    """'all', 'none', or a comma-separated list / iterable of INCIDENTS names."""
    if isinstance(incidents, str):
        if incidents == "all":
            return INCIDENTS
        if incidents == "none":
            return ()
        incidents = [name.strip() for name in incidents.split(",") if name.strip()]
    chosen = tuple(incidents)
    unknown = sorted(set(chosen) - set(INCIDENTS))
    if unknown:
        raise UsageError(f"unknown incident {', '.join(unknown)}; choose from all, none, {', '.join(INCIDENTS)}")
    return tuple(name for name in INCIDENTS if name in chosen)


class Platform:
    """Simulates the platform's services one after the other, then injects the chosen incidents."""

    def __init__(self, rng: random.Random, incidents: tuple[str, ...], *, minutes: int, users: int, matches: int):
        self.rng, self.incidents = rng, incidents
        self.end_ms = START_MS + minutes * 60_000
        self.users = list(range(1001, 1001 + users))
        self.matches = [f"match-{n}" for n in range(101, 101 + matches)]
        self.events: list[Event] = []

    def at(self, minute: float) -> int:
        return START_MS + int(minute * 60_000)

    def emit(self, topic: str, subject: str, type_: str, source: str, event_ms: int, data: dict,
             trace: tuple[int, int] | None = None) -> Event:
        event = Event(topic, subject, type_, source, event_ms, event_ms + PRODUCE_LATENCY_MS, data,
                      (trace[0] if trace else self.rng.getrandbits(128), self.rng.getrandbits(64)))
        event.event_id = f"{self.rng.getrandbits(128):032x}"
        self.events.append(event)
        return event

    def generate(self, topic_prefix: str) -> tuple[list[Event], dict]:
        self.scout_feed()
        self.odds_engine()
        self.betting()
        self.logins()
        truth = {name: getattr(self, f"inject_{name}")() for name in self.incidents}
        number(self.events)
        live = [e for e in self.events if not e.lost]
        place(live)
        if "republished_range" in truth:
            live += self.republish(live, truth["republished_range"])
        assign_offsets(live)
        return live, {name: describe(detail, topic_prefix) for name, detail in truth.items()}

    # --- the services -------------------------------------------------------------------------
    def scout_feed(self) -> None:
        """Match events from the scout feed: about one every 10 s per match; goals start a trace."""
        for match in self.matches:
            t = START_MS + self.rng.randint(0, 20_000)
            self.emit("match-events", match, "kickoff", "/scout-feed", t, {"match_id": match, "minute": 0})
            while True:
                t += self.rng.randint(4_000, 16_000)
                if t >= self.end_ms:
                    break
                kind = self.rng.choices(["possession", "shot", "corner", "card", "goal"], [50, 20, 15, 8, 7])[0]
                data = {"match_id": match, "minute": (t - START_MS) // 60_000, "team": self.rng.choice("HA")}
                goal = self.emit("match-events", match, kind, "/scout-feed", t, data)
                if kind == "goal":
                    self.emit("odds-updates", match, "odds_repriced", "/odds-engine", t + self.rng.randint(100, 400),
                              {"match_id": match, "market": "1x2", "price": self.price()}, goal.trace)

    def odds_engine(self) -> None:
        """Regular odds updates: about one every 2 s per match."""
        for match in self.matches:
            t = START_MS + self.rng.randint(0, 2_000)
            while t < self.end_ms:
                self.emit("odds-updates", match, "odds_updated", "/odds-engine", t,
                          {"match_id": match, "market": "1x2", "price": self.price()})
                t += self.rng.randint(1_000, 3_000)

    def price(self) -> float:
        return round(self.rng.uniform(1.2, 6.0), 2)

    def betting(self) -> None:
        """Bets placed, wallet updates, settlements and cash-outs, all on one trace per bet."""
        for user in self.users:
            gap = (1_500, 4_500) if user == HEAVY_BETTOR else (60_000, 240_000)
            t = START_MS + self.rng.randint(0, gap[1])
            history: list[dict] = []
            balance = 1000.0
            while t < self.end_ms - 60_000:
                bet_id = f"b-{self.rng.getrandbits(40):010x}"
                stake = round(self.rng.uniform(2, 50), 2)
                match = self.rng.choice(self.matches)
                placed = self.emit("bets", str(user), "bet_placed", "/bet-service", t,
                                   {"user_id": user, "bet_id": bet_id, "match_id": match, "stake": stake,
                                    "price": self.price()})
                balance = round(balance - stake, 2)
                history.append({"bet_id": bet_id, "match_id": match, "stake": stake})
                recent = history if user == HEAVY_BETTOR and "growing_document" in self.incidents else history[-5:]
                self.emit("accounts", str(user), "account_updated", "/wallet-service", t + self.rng.randint(50, 300),
                          {"user_id": user, "balance": balance, "recent_bets": list(recent)}, placed.trace)
                if self.rng.random() < 0.1:
                    self.emit("bets", str(user), "cashout_requested", "/bet-service", t + self.rng.randint(5_000, 30_000),
                              {"user_id": user, "bet_id": bet_id}, placed.trace)
                settle_ms = t + self.rng.randint(30_000, 55_000)
                self.emit("bets", str(user), "bet_settled", "/bet-service", settle_ms,
                          {"user_id": user, "bet_id": bet_id, "won": self.rng.random() < 0.4}, placed.trace)
                t += self.rng.randint(*gap)

    def logins(self) -> None:
        """One to three logins per user; one in ten fails first."""
        for user in self.users:
            for _ in range(self.rng.randint(1, 3)):
                t = START_MS + self.rng.randint(0, self.end_ms - START_MS - 1)
                ip = f"10.{self.rng.randint(0, 255)}.{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
                if self.rng.random() < 0.1:
                    self.emit("auth-attempts", str(user), "login_failed", "/auth-service", t, {"user_id": user, "ip": ip})
                    t += self.rng.randint(5_000, 20_000)
                self.emit("auth-attempts", str(user), "login_succeeded", "/auth-service", t, {"user_id": user, "ip": ip})

    # --- the incidents ------------------------------------------------------------------------
    def pick(self, topic: str, type_: str, first_minute: float, last_minute: float, count: int) -> list[Event]:
        """`count` distinct subjects' events of one type sent in [first_minute, last_minute)."""
        candidates = [e for e in self.events if e.topic == topic and e.type == type_
                      and self.at(first_minute) <= e.event_ms < self.at(last_minute)]
        chosen: dict[str, Event] = {}
        for event in self.rng.sample(candidates, len(candidates)):
            chosen.setdefault(event.subject, event)
            if len(chosen) == count:
                break
        return sorted(chosen.values(), key=lambda e: e.event_ms)

    def inject_lost_events(self) -> dict:
        """Four bets are never written (a producer dropped them); their wallet updates, cash-outs and
        settlements never happen, so the only trace is a hole in the user's sequence."""
        lost = self.pick("bets", "bet_placed", 5, 14, 4)
        lost_traces = {event.trace[0] for event in lost}
        for event in lost:
            event.lost = True  # stays in the list so that its sequence number is used up
        self.events = [e for e in self.events if e.lost or e.trace[0] not in lost_traces]
        return {"events": lost}

    def inject_late_events(self) -> dict:
        """Five scout events are buffered on a device that lost its connection and arrive 60-90 s late."""
        late = self.pick("match-events", "possession", 6, 14, 5)
        for event in late:
            event.send_ms = event.event_ms + self.rng.randint(60_000, 90_000)
        return {"events": late}

    def inject_foreign_partitioner(self) -> dict:
        """Settlements move to a new Go settlement service whose Sarama producer hashes keys with
        FNV-1a, so most users' settlements land on another partition than their bets."""
        moved = [e for e in self.events if e.type == "bet_settled"]
        for event in moved:
            event.source, event.partitioner = "/settlement-service", FOREIGN_PARTITIONER
        return {"events": moved}

    def inject_int_keys(self) -> dict:
        """Cash-outs come from a Kotlin service that serialises the user id as a 4-byte int key."""
        moved = [e for e in self.events if e.type == "cashout_requested"]
        for event in moved:
            event.source = "/cashout-service"
            event.key = struct.pack(">i", int(event.subject))
        return {"events": moved}

    def inject_auth_burst(self) -> dict:
        """A credential-stuffing burst: 400 failed logins for one user from 40 addresses in 40 s."""
        ips = [f"203.0.113.{n}" for n in range(10, 50)]
        t = self.at(15)
        burst = [self.emit("auth-attempts", str(BURST_USER), "login_failed", "/auth-service", t + n * 100,
                           {"user_id": BURST_USER, "ip": ips[n % len(ips)]}) for n in range(400)]
        return {"events": burst}

    def inject_growing_document(self) -> dict:
        """The heavy bettor's account document keeps its whole bet history (others keep five)."""
        return {"events": [e for e in self.events if e.topic == "accounts" and e.subject == str(HEAVY_BETTOR)]}

    def inject_schema_change(self) -> dict:
        """One deploy: from minute 10 the odds engine v2 sends `price` as a string and adds `currency`."""
        changed = [e for e in self.events if e.topic == "odds-updates" and e.event_ms >= self.at(10)]
        for event in changed:
            event.data["price"] = f"{event.data['price']:.2f}"
            event.data["currency"] = "EUR"
        return {"events": changed}

    def inject_republished_range(self) -> dict:
        """Filled in by `republish`, which copies records once they are placed on partitions."""
        return {}

    def republish(self, live: list[Event], truth: dict) -> list[Event]:
        """The odds producer restarts after minute 12 and re-sends the last REPUBLISHED records it had
        sent to one partition, byte for byte, 20 s after the last of them."""
        topic, partition, count = REPUBLISHED
        sent = sorted((e for e in live if e.topic == topic and e.partition == partition
                       and e.send_ms < self.at(12)), key=lambda e: (e.send_ms, e.event_id))[-count:]
        restart_ms = sent[-1].send_ms + 20_000
        copies = [Event(**{**original.__dict__, "send_ms": restart_ms + 5 * n}) for n, original in enumerate(sent)]
        truth.update({"originals": sent, "copies": copies})
        return copies


def describe(detail: dict, topic_prefix: str) -> dict | list:
    """An incident's ground truth as a reviewer checks findings against it."""
    if "copies" in detail:
        first = detail["originals"][0]
        return {"topic": topic_prefix + first.topic, "partition": first.partition,
                "original_offsets": [e.offset for e in detail["originals"]],
                "copy_offsets": [e.offset for e in detail["copies"]]}
    events = detail["events"]
    if len(events) <= 10:
        return [{"topic": topic_prefix + e.topic, "subject": e.subject, "sequence": e.sequence,
                 "event_id": e.event_id, "partition": None if e.lost else e.partition,
                 "offset": None if e.lost else e.offset,
                 "lateness_ms": None if e.lost else e.send_ms - e.event_ms} for e in events]
    return {"topics": sorted({topic_prefix + e.topic for e in events}), "records": len(events),
            "subjects": len({e.subject for e in events})}


def number(events: list[Event]) -> None:
    """Number each entity's events in event-time order (the platform's per-entity sequence)."""
    sequences: dict[tuple[str, str], int] = defaultdict(int)
    for event in sorted(events, key=lambda e: (e.event_ms, e.event_id)):
        sequences[(event.topic, event.subject)] += 1
        event.sequence = sequences[(event.topic, event.subject)]


def place(events: list[Event]) -> None:
    """Put every event on the partition its producer's partitioner picks and build its record bytes."""
    from ..partitioning.hashes import partition_keys

    groups: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in events:
        if event.key is None:
            event.key = event.subject.encode()
        groups[(event.topic, event.partitioner)].append(event)
    for (topic, partitioner), group in groups.items():
        for event, partition in zip(group, partition_keys([e.key for e in group], TOPICS[topic], partitioner)):
            event.partition = int(partition)
    for event in events:
        event.value = json.dumps({"id": event.event_id, "source": event.source, "type": event.type,
                                  "subject": event.subject, "sequence": event.sequence, "time": utc_iso(event.event_ms),
                                  "data": event.data}, separators=(",", ":")).encode()
        event.headers = [("traceparent", f"00-{event.trace[0]:032x}-{event.trace[1]:016x}-01".encode()),
                         ("producer", event.source.strip("/").encode())]


def assign_offsets(events: list[Event]) -> None:
    """Offsets follow send order within each partition, as the broker appends them."""
    counters: dict[tuple[str, int], int] = defaultdict(int)
    for event in sorted(events, key=lambda e: (e.send_ms, e.event_id, e.offset)):
        event.offset = counters[(event.topic, event.partition)]
        counters[(event.topic, event.partition)] += 1


def write_dataset(out: Path, events: list[Event], *, seed: int, incidents: tuple[str, ...], topic_prefix: str,
                  minutes: int) -> Manifest:
    """Write the events as one complete run; run id and manifest times come from the fixed clock."""
    rows = [{"topic": topic_prefix + e.topic, "partition": e.partition, "offset": e.offset, "timestamp": e.send_ms,
             "key": e.key, "value": e.value, "headers": e.headers} for e in events]
    ends: dict[tuple[str, int], int] = defaultdict(int)
    for row in rows:
        ends[(row["topic"], row["partition"])] = max(ends[(row["topic"], row["partition"])], row["offset"] + 1)
    ranges = {(topic_prefix + t, p): (0, ends[(topic_prefix + t, p)]) for t, n in TOPICS.items() for p in range(n)}
    # The run is named after the simulated period's end; its dump runs once the last record is written
    # (a late login may follow that end), so no record is newer than the moment it fixed its end offsets.
    finished = START_MS + minutes * 60_000
    dumped = max(finished, max(e.send_ms for e in events))
    manifest = write_records(
        out, records_table(rows), ranges=ranges,
        topic_configs={topic_prefix + t: c for t, c in TOPIC_CONFIGS.items()},
        partition_counts={topic_prefix + t: n for t, n in TOPICS.items()},
        request={"source": "evkit synth", "seed": seed, "incidents": list(incidents), "minutes": minutes},
        run_id=datetime.fromtimestamp(finished / 1000, tz=UTC).strftime("%Y%m%dT%H%M%S000000Z") + f"-synth{seed}",
        end_fixed_at=dumped,
    )
    manifest.started_at = manifest.finished_at = utc_iso(dumped)
    write_manifest(out, manifest)
    return manifest


def produce(settings: dict[str, str], events: list[Event], *, topic_prefix: str, quiet: bool) -> None:
    """Produce the events in send order with their partitions and timestamps to fresh, empty topics,
    and check that the broker gave every record the offset the dataset has."""
    from confluent_kafka import KafkaException, Producer

    client_config = admin_settings(settings)
    try:
        create_empty_topics(client_config, topic_prefix)
        producer = Producer({**client_config, "enable.idempotence": True, "linger.ms": 20}, logger=log)
    except KafkaException as exc:
        raise ClusterError(f"cannot produce to {settings['bootstrap.servers']}: {exc.args[0].str()}") from None
    failures: list[str] = []
    progress = Progress(quiet=quiet)
    progress.start(total=len(events), unit="records")

    def delivered(event: Event, err, msg) -> None:
        progress.update(1, records=1, data_bytes=len(event.key) + len(event.value))
        if err is not None:
            failures.append(f"{topic_prefix}{event.topic}[{event.partition}]: {err.str()}")
        elif msg.offset() != event.offset:
            failures.append(f"{msg.topic()}[{msg.partition()}] got offset {msg.offset()}, expected {event.offset}")

    try:
        for event in sorted(events, key=lambda e: (e.send_ms, e.event_id, e.offset)):
            producer.produce(topic_prefix + event.topic, value=event.value, key=event.key, partition=event.partition,
                             timestamp=event.send_ms, headers=event.headers,
                             on_delivery=lambda err, msg, event=event: delivered(event, err, msg))
            producer.poll(0)
        remaining = producer.flush(60)
    finally:
        progress.close()
    if remaining or failures:
        raise ClusterError(f"{remaining + len(failures)} records not produced as planned, first: "
                         f"{failures[0] if failures else 'delivery timed out'}")


def create_empty_topics(client_config: dict[str, str], topic_prefix: str) -> None:
    """Create the platform's topics; an existing one must have the right partition count and no records."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(client_config, logger=log)
    existing = admin.list_topics(timeout=15).topics
    missing = [NewTopic(topic_prefix + t, n, config=TOPIC_CONFIGS[t]) for t, n in TOPICS.items()
               if topic_prefix + t not in existing]
    for future in admin.create_topics(missing, operation_timeout=30).values() if missing else ():
        future.result(30)
    for topic, count in TOPICS.items():
        name = topic_prefix + topic
        if name not in existing:
            continue  # just created, so empty; its leaders may still be electing (the producer waits for them)
        if len(existing[name].partitions) != count:
            raise UsageError(f"topic {name} has {len(existing[name].partitions)} partitions, synth needs {count}; "
                             "use --topic-prefix to write fresh topics")
        if any(end > 0 for end in end_offsets(admin, name, count)):
            raise UsageError(f"topic {name} already holds records; use --topic-prefix to write fresh topics")



def end_offsets(admin, topic: str, count: int, timeout: float = 30) -> list[int]:
    """High watermarks of an existing topic (retried while a leader moves)."""
    import time

    from confluent_kafka import KafkaException, TopicPartition
    from confluent_kafka.admin import OffsetSpec

    deadline = time.monotonic() + timeout
    while True:
        futures = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(count)})
        try:
            return [future.result(10).offset for future in futures.values()]
        except KafkaException:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)
