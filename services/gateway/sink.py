"""Where the gateway's records go: an abstract sink, Kafka, and an in-memory double."""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.errors import ServiceError
from services.security.kafka import KafkaAccess

if TYPE_CHECKING:
    from confluent_kafka import KafkaError

log = logging.getLogger(__name__)

# Called exactly once per send: ``None`` when the record is durably stored, else the error.
Delivery = Callable[[Exception | None], None]


class SinkError(ServiceError):
    """A record could not be handed to or stored by the sink."""


class RecordSink(abc.ABC):
    """A keyed, durable record log (Kafka in production)."""

    #: why the sink can never deliver again (the process should exit), else None
    fatal: str | None = None

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
    """librdkafka's producer (``confluent-kafka``) with acks=all and idempotence: no
    duplicates from producer retries; the gateway's own re-sends are deduplicated downstream
    by message id. A poller thread serves delivery reports, so ``on_done`` runs on it.

    librdkafka rather than kafka-python: kafka-python builds every record batch in Python,
    which cost more CPU per message than the rest of the gateway together (README)."""

    def __init__(self, kafka: KafkaAccess, client_id: str, linger_ms: float = 5) -> None:
        from confluent_kafka import KafkaException, Producer

        from services.kafka_clients import durable_producer_config

        self._kafka_exception = KafkaException
        config = durable_producer_config(
            kafka, client_id, linger_ms, error_cb=self._on_error, logger=log
        )
        try:
            self._producer = Producer(config)
        except KafkaException as exc:
            raise SinkError(f"cannot create a Kafka producer for {kafka}: {exc}") from exc
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()

    def _on_error(self, error: KafkaError) -> None:
        if error.fatal():
            self.fatal = str(error)
            log.error("Kafka producer failed for good: %s", error)
        else:  # transient (broker down, reconnecting): librdkafka retries by itself
            log.warning("Kafka: %s", error)

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def send(self, topic: str, key: bytes, value: bytes, on_done: Delivery) -> None:
        if self.fatal is not None:
            raise SinkError(f"producer failed: {self.fatal}")
        try:
            self._producer.produce(
                topic,
                value,
                key,
                on_delivery=lambda err, _msg: on_done(
                    None if err is None else SinkError(f"delivery failed: {err}")
                ),
            )
        except BufferError as exc:
            raise SinkError("producer queue full") from exc
        except self._kafka_exception as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}") from exc

    def flush(self, timeout_s: float) -> None:
        left = self._producer.flush(timeout_s)
        if left:
            raise SinkError(f"flush: {left} records not delivered within {timeout_s} s")

    def close(self) -> None:
        self._closed.set()
        self._poller.join(timeout=5)
        self._producer.flush(5)


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
