"""The native reader's Python side: load the C extension (evkit/cluster/_native_reader.c) on the
librdkafka confluent-kafka loaded, and serve the consume loop (reader.py) Arrow tables from it.

The C consumer fills Arrow buffers straight from librdkafka's messages, with the GIL released, and
exports one batch per partition and call through the Arrow C Data Interface: no Python object per
record. What to read, when a range is done and how files are written stay in reader.py, shared
with the Python reader, so both write the same datasets.
"""
from __future__ import annotations

import functools
import logging
import os

import pyarrow as pa
from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import TopicPartition

from ..errors import UsageError
from ..store.records import RECORD_SCHEMA
from .connection import Connection, log

# How long a call keeps filling a batch from librdkafka's queue once it has records (seconds).
FILL_SECONDS = 0.05
# librdkafka's syslog levels as Python's, as confluent-kafka maps them.
_LOG_LEVELS = [logging.CRITICAL] * 3 + [logging.ERROR, logging.WARNING, logging.INFO, logging.INFO, logging.DEBUG]


@functools.cache
def native_module():
    """The loaded extension, or None where it was not built (no C compiler at install time) or no
    librdkafka shared library is found in this process."""
    try:
        from . import _native_reader
    except ImportError:
        return None
    path = _librdkafka_path()
    if path is None:
        return None
    try:
        _native_reader.load(path)
    except ImportError as exc:
        log.warning("the native reader is not used: %s", exc)
        return None
    return _native_reader


def _librdkafka_path() -> str | None:
    """The librdkafka shared library confluent-kafka loaded (its wheel bundles one; conda links
    the system's): the reader runs on the very same library as the Python reader."""
    import confluent_kafka.cimpl  # noqa: F401 - loads librdkafka

    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                path = line.split()[-1]
                if os.path.basename(path).startswith("librdkafka"):
                    return path
    except OSError:
        pass
    import ctypes.util

    return ctypes.util.find_library("rdkafka")


class NativeSource:
    """A consumer of the C extension with the methods of confluent-kafka's Consumer the consume
    loop calls (assign, seek, pause, position), plus `consume_tables` and `raise_for_errors`."""

    name = "native"

    def __init__(self, conn: Connection):
        self.conn = conn
        try:
            self.consumer = native_module().Consumer(conn.consumer_config())
        except ValueError as exc:
            raise UsageError(f"invalid client configuration: {exc}") from None

    def assign(self, partitions: list[TopicPartition]) -> None:
        self.consumer.assign([(tp.topic, tp.partition, tp.offset) for tp in partitions])

    def seek(self, tp: TopicPartition) -> None:
        self.consumer.seek(tp.topic, tp.partition, tp.offset)

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.consumer.pause([(tp.topic, tp.partition) for tp in partitions])

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        offsets = self.consumer.position([(tp.topic, tp.partition) for tp in partitions])
        return [TopicPartition(tp.topic, tp.partition, offset) for tp, offset in zip(partitions, offsets)]

    def consume_tables(self, max_records: int, timeout: float):
        """(count, [((topic, partition), table)], [(topic, partition, eof offset)], [(error, topic, partition)])."""
        batches, eofs, errors = self.consumer.consume(max_records, timeout, FILL_SECONDS)
        tables = [((topic, partition), pa.Table.from_batches([pa.RecordBatch._import_from_c(batch.address, RECORD_SCHEMA)]))
                  for topic, partition, batch in batches]
        count = sum(t.num_rows for _, t in tables) + len(eofs) + len(errors)
        return count, tables, eofs, [(RdKafkaError(code, reason), topic, partition) for code, reason, topic, partition in errors]

    def raise_for_errors(self) -> None:
        """Log librdkafka's lines, and raise what its error callback reported, as the Python reader does."""
        errors, lines = self.consumer.events()
        for level, facility, line in lines:
            log.log(_LOG_LEVELS[min(max(level, 0), 7)], "%s [%s] %s", facility, self.consumer.name, line)
        self.conn.errors.extend(RdKafkaError(code, reason, fatal=fatal) for code, reason, fatal in errors)
        self.conn.raise_for_errors()

    def close(self) -> None:
        self.consumer.close()
