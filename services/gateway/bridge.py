"""The gateway's core: validate, forward to the sink, acknowledge only after delivery.

Threads: the MQTT network thread calls :meth:`Bridge.submit` (never blocks on Kafka); one
dispatcher thread validates and hands records to the sink; the sink's delivery callbacks
(Kafka's I/O thread) acknowledge. A failed delivery is retried after a backoff with the same
bytes, so a message is acknowledged only once Kafka or the DLQ holds it.

Back-pressure: the broker sends at most ``max_in_flight`` unacknowledged messages (MQTT v5
Receive Maximum; Mosquitto honours it per client), so while Kafka is slow or down we stop
acknowledging, the broker stops sending and queues for our persistent session instead.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from services.errors import ValidationError
from services.gateway.dlq import DlqRecord
from services.gateway.metrics import GatewayMetrics
from services.gateway.sink import RecordSink, SinkError
from services.schemas import (
    DeviceStatus,
    PredictionEvent,
    parse_device_status,
    parse_prediction,
)

log = logging.getLogger(__name__)

TOPIC_RE = re.compile(r"^fleet/([^/]+)/(pred|status)$")


@dataclass
class Pending:
    """One received MQTT message until it is acknowledged."""

    topic: str
    payload: bytes
    ack: Callable[[], None]  # acknowledges to the broker (PUBACK); idempotent
    received: float = field(default_factory=time.monotonic)
    received_ts: float = field(default_factory=time.time)
    attempts: int = 0
    record: tuple[str, bytes, bytes] | None = None  # (topic, key, value) once routed
    kind: str = ""


@dataclass(frozen=True)
class Topics:
    predictions: str
    status: str
    dlq: str


class Bridge:
    def __init__(
        self,
        sink: RecordSink,
        topics: Topics,
        metrics: GatewayMetrics | None = None,
        gateway_id: str = "",
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.sink = sink
        self.topics = topics
        self.metrics = metrics or GatewayMetrics()
        self.gateway_id = gateway_id
        self.retry_backoff_s = retry_backoff_s
        self._queue: queue.Queue[Pending | None] = queue.Queue()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._accepting = True
        self._thread = threading.Thread(target=self._dispatch, name="gateway-dispatch", daemon=True)
        self._thread.start()

    # -- intake (MQTT thread) -------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, ack: Callable[[], None]) -> bool:
        """Take one message; False (not acknowledged, redelivered later) while draining."""
        with self._cond:
            if not self._accepting:
                return False
            self._in_flight += 1
            self.metrics.in_flight.set(self._in_flight)
        self._queue.put(Pending(topic, bytes(payload), ack))
        return True

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    # -- dispatch (own thread) ------------------------------------------------------------

    def _dispatch(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if item.record is None:
                self._route(item)
            self._send(item)

    def _route(self, item: Pending) -> None:
        """Validate and pick the Kafka topic: the schema's topic or the DLQ."""
        match = TOPIC_RE.match(item.topic)
        kind = match.group(2) if match else "unknown"
        self.metrics.received.labels(kind=kind).inc()
        try:
            if match is None:
                raise ValidationError(f"unexpected topic {item.topic!r}")
            device_id = match.group(1)
            message: PredictionEvent | DeviceStatus
            if kind == "pred":
                message = parse_prediction(item.payload)
                target = self.topics.predictions
            else:
                message = parse_device_status(item.payload)
                target = self.topics.status
            if message.device_id != device_id:
                # The ACL proves who published; a payload naming someone else is forged.
                raise ValidationError(
                    f"payload device_id {message.device_id!r} differs from topic's {device_id!r}"
                )
            item.kind = kind
            item.record = (target, device_id.encode(), item.payload)
        except ValidationError as exc:
            item.kind = f"dlq:{kind}"
            record = DlqRecord.of(
                exc.reason, item.topic, item.payload, item.received_ts, self.gateway_id
            )
            item.record = (self.topics.dlq, item.topic.encode(), record.to_bytes())

    def _send(self, item: Pending) -> None:
        topic, key, value = item.record  # type: ignore[misc]
        item.attempts += 1
        try:
            self.sink.send(topic, key, value, lambda exc: self._delivered(item, exc))
        except SinkError as exc:
            self._retry(item, "sink_refused", exc)

    # -- delivery (sink thread) -----------------------------------------------------------

    def _delivered(self, item: Pending, exc: Exception | None) -> None:
        if exc is not None:
            self._retry(item, "delivery_failed", exc)
            return
        topic = item.record[0]  # type: ignore[index]
        if item.kind.startswith("dlq:"):
            self.metrics.dlq.labels(kind=item.kind[4:]).inc()
        self.metrics.produced.labels(topic=topic).inc()
        self.metrics.produce_latency.observe(time.monotonic() - item.received)
        try:
            item.ack()
        except Exception as exc:
            self.metrics.errors.labels(kind="ack_failed").inc()
            log.warning("ack of %s failed: %s", item.topic, exc)
        with self._cond:
            self._in_flight -= 1
            self.metrics.in_flight.set(self._in_flight)
            self._cond.notify_all()

    def _retry(self, item: Pending, kind: str, exc: Exception) -> None:
        self.metrics.errors.labels(kind=kind).inc()
        if item.attempts in (1, 10) or item.attempts % 100 == 0:
            log.warning("%s for %s (attempt %d): %s", kind, item.topic, item.attempts, exc)
        delay = min(self.retry_backoff_s * item.attempts, 5.0)
        timer = threading.Timer(delay, self._queue.put, args=(item,))
        timer.daemon = True
        timer.start()

    # -- shutdown -------------------------------------------------------------------------

    def drain(self, timeout_s: float) -> bool:
        """Stop accepting, wait until every accepted message is acknowledged."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            self._accepting = False
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
