"""The one way to read a range of a Kafka topic: from its start, only its newest records, or
only those since a time, always up to the end offsets it has when the read starts, and always
within a deadline.

Releases, rollout records and the demo's version lookup need "every record so far", the
distiller's reference profile and the control API's pages "the newest n", the rollout manager
"who reported since t"; kafka-python has no one call for any of them: assign every partition,
seek, poll until each position reaches the end offset taken at the start.

:func:`read_to_end` makes a consumer for one read; :class:`TopicReader` keeps one for a
process that reads on every request (the control API), instead of a consumer, its connections
and a metadata round trip per read.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from services.errors import ServiceError
from services.security.kafka import KafkaAccess

MAX_REQUEST_TIMEOUT_MS = 300_000  # below kafka-python's connections_max_idle_ms (540 000)


def _consumer(
    kafka: KafkaAccess, timeout_s: float, error: type[ServiceError], client_id: str
) -> Any:
    from kafka.errors import KafkaError

    timeout_ms = int(timeout_s * 1000)
    try:
        return kafka.consumer(
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            # One request, not the whole read: kafka-python refuses a request timeout at or
            # above connections_max_idle_ms (540 s), and the read's deadline is timeout_s.
            request_timeout_ms=min(max(timeout_ms, 1000), MAX_REQUEST_TIMEOUT_MS),
            bootstrap_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        raise error(f"cannot reach Kafka at {kafka}: {exc}") from exc


def _partitions(consumer: Any, topic: str) -> list[Any]:
    """Every partition of ``topic`` (none when it does not exist), assigned to ``consumer``."""
    from kafka import TopicPartition

    numbers = sorted(consumer.partitions_for_topic(topic) or [])
    partitions = [TopicPartition(topic, p) for p in numbers]
    consumer.assign(partitions)
    return partitions


def _read(
    consumer: Any,
    partitions: list[Any],
    *,
    timeout_s: float,
    error: type[ServiceError],
    newest: int | None,
    since: float | None,
) -> Iterator[Any]:
    """The records of one range of the assigned ``partitions`` (see :func:`read_to_end`)."""
    ends = consumer.end_offsets(partitions)
    if since is not None:
        found = consumer.offsets_for_times({tp: int(since * 1000) for tp in partitions})
        for tp in partitions:
            start = found.get(tp)
            consumer.seek(tp, start.offset if start is not None else ends[tp])
    elif newest is not None:
        begins = consumer.beginning_offsets(partitions)
        per_partition = -(-newest // len(partitions))  # ceil
        for tp in partitions:
            consumer.seek(tp, max(begins[tp], ends[tp] - per_partition))
    else:
        consumer.seek_to_beginning()
    deadline = time.monotonic() + timeout_s
    while any(consumer.position(tp) < end for tp, end in ends.items()):
        if time.monotonic() > deadline:
            raise error(f"could not read {partitions[0].topic} to its end within {timeout_s} s")
        for tp, batch in consumer.poll(timeout_ms=200).items():
            # records that arrived after the end offsets were taken are not "now"
            yield from (r for r in batch if r.value is not None and r.offset < ends[tp])


def read_to_end(
    kafka: KafkaAccess,
    topic: str,
    *,
    timeout_s: float = 30.0,
    error: type[ServiceError] = ServiceError,
    newest: int | None = None,
    since: float | None = None,
) -> Iterator[Any]:
    """Yield the non-tombstone records of ``topic`` (kafka-python ``ConsumerRecord`` s) up to
    its end offsets now: from its start, or only about the ``newest`` (split evenly over the
    partitions), or only those with a timestamp at or after ``since`` (Unix seconds). None when
    the topic does not exist. Kafka failures and the deadline (``timeout_s``) raise ``error``."""
    from kafka.errors import KafkaError

    consumer = _consumer(kafka, timeout_s, error, "fleet-topic-reader")
    try:
        partitions = _partitions(consumer, topic)
        if partitions:
            yield from _read(
                consumer, partitions, timeout_s=timeout_s, error=error, newest=newest,
                since=since,
            )  # fmt: skip
    except KafkaError as exc:
        raise error(f"cannot read {topic}: {exc}") from exc
    finally:
        consumer.close()


class TopicReader:
    """Reads ranges like :func:`read_to_end` through one consumer kept for the reader's
    lifetime (made on the first read; a failed read drops it and the next one makes a new one).
    Thread-safe: reads are serialised, kafka-python's consumer is not thread-safe."""

    def __init__(
        self,
        kafka: KafkaAccess,
        timeout_s: float = 30.0,
        error: type[ServiceError] = ServiceError,
        client_id: str = "fleet-topic-reader",
    ) -> None:
        self.kafka, self.timeout_s, self.error = kafka, timeout_s, error
        self.client_id = client_id
        self._consumer: Any = None
        self._lock = threading.Lock()
        self.consumers_made = 0  # how many consumers this reader created (metrics, tests)

    def newest(self, topic: str, limit: int) -> list[bytes]:
        """The values of about the newest ``limit`` records of ``topic`` in the order they were
        appended (by record timestamp across partitions). A missing topic raises ``error``."""
        from kafka.errors import KafkaError

        with self._lock:
            if self._consumer is None:
                self._consumer = _consumer(self.kafka, self.timeout_s, self.error, self.client_id)
                self.consumers_made += 1
            try:
                partitions = _partitions(self._consumer, topic)
                records = None
                if partitions:
                    read = _read(
                        self._consumer, partitions, timeout_s=self.timeout_s, error=self.error,
                        newest=limit, since=None,
                    )  # fmt: skip
                    records = list(read)
            except KafkaError as exc:
                self._drop()
                raise self.error(f"cannot read {topic}: {exc}") from exc
            except self.error:
                self._drop()
                raise
        if records is None:  # not the consumer's fault: it is kept
            raise self.error(f"topic {topic} does not exist")
        records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
        return [r.value for r in records]

    def _drop(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):  # a broken consumer: nothing left to save
                self._consumer.close()
            self._consumer = None

    def close(self) -> None:
        with self._lock:
            self._drop()
