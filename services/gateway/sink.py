"""Where the gateway's records go: an abstract sink, Kafka, and an in-memory double."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable
from dataclasses import dataclass

from services.errors import ServiceError

# Called exactly once per send: ``None`` when the record is durably stored, else the error.
Delivery = Callable[[Exception | None], None]


class SinkError(ServiceError):
    """A record could not be handed to or stored by the sink."""


class RecordSink(abc.ABC):
    """A keyed, durable record log (Kafka in production)."""

    @abc.abstractmethod
    def send(self, topic: str, key: bytes, value: bytes, on_done: Delivery) -> None:
        """Runs on the gateway's dispatcher thread for every record to forward.

        Returns quickly; ``on_done`` runs later (on any thread) once: with ``None`` when the
        record is stored with the sink's full durability (Kafka: acks=all), or with the error.
        Raising :class:`SinkError` means the record was not accepted at all (e.g. the broker's
        metadata is unavailable); the caller retries, and ``on_done`` is not called.
        """

    @abc.abstractmethod
    def flush(self, timeout_s: float) -> None:
        """Runs at shutdown: block until every accepted record's ``on_done`` has run."""

    @abc.abstractmethod
    def close(self) -> None:
        """Runs last; releases connections. Records not yet delivered may be lost."""


class KafkaSink(RecordSink):
    """kafka-python's ``KafkaProducer`` with acks=all and idempotence (no duplicates from
    producer retries; the gateway's own redeliveries are deduplicated downstream by
    message id)."""

    def __init__(self, bootstrap: str, client_id: str, linger_ms: int = 5) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        self._kafka_error = KafkaError
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=linger_ms,
                delivery_timeout_ms=30_000,  # then the bridge re-sends it (never dropped)
                request_timeout_ms=15_000,
                max_block_ms=10_000,  # send() waits this long for metadata / buffer space
                reconnect_backoff_max_ms=2_000,
            )
        except KafkaError as exc:
            raise SinkError(f"cannot connect to Kafka at {bootstrap}: {exc}") from exc

    def send(self, topic: str, key: bytes, value: bytes, on_done: Delivery) -> None:
        try:
            future = self._producer.send(topic, key=key, value=value)
        except self._kafka_error as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}") from exc
        future.add_callback(lambda _metadata: on_done(None))
        future.add_errback(lambda exc: on_done(exc if isinstance(exc, Exception) else None))

    def flush(self, timeout_s: float) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except self._kafka_error as exc:
            raise SinkError(f"flush failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._producer.close(timeout=5)
        except self._kafka_error as exc:
            raise SinkError(f"close failed: {exc}") from exc


@dataclass(frozen=True)
class StoredRecord:
    topic: str
    key: bytes
    value: bytes


class MemorySink(RecordSink):
    """Test double: stores records in a list; ``fail_next`` makes deliveries fail,
    ``hold`` keeps deliveries pending until ``release()``."""

    def __init__(self) -> None:
        self.records: list[StoredRecord] = []
        self.fail_next = 0  # the next N sends fail in on_done
        self.refuse_next = 0  # the next N sends raise SinkError
        self.hold = False
        self._pending: list[tuple[StoredRecord, Delivery]] = []
        self._lock = threading.Lock()

    def send(self, topic: str, key: bytes, value: bytes, on_done: Delivery) -> None:
        with self._lock:
            if self.refuse_next:
                self.refuse_next -= 1
                raise SinkError("refused by test double")
            record = StoredRecord(topic, key, value)
            if self.hold:
                self._pending.append((record, on_done))
                return
            failed = self.fail_next > 0
            if failed:
                self.fail_next -= 1
            else:
                self.records.append(record)
        on_done(SinkError("delivery failed in test double") if failed else None)

    def release(self) -> None:
        with self._lock:
            pending, self._pending, self.hold = self._pending, [], False
            self.records.extend(record for record, _ in pending)
        for _, on_done in pending:
            on_done(None)

    def flush(self, timeout_s: float) -> None:
        self.release()

    def close(self) -> None:
        pass

    def values(self, topic: str) -> list[bytes]:
        with self._lock:
            return [r.value for r in self.records if r.topic == topic]
