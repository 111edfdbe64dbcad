"""The gateway's core: validate, forward to the sink, acknowledge only after delivery.

Threads: the MQTT network thread calls :meth:`Bridge.submit`, which validates the payload once
and hands the record to the sink (a non-blocking enqueue into the producer's buffer; no
hand-off to another thread); the sink's delivery callbacks (its delivery thread) acknowledge.
A failed delivery is retried after a backoff with the same bytes, from a timer thread, so a
message is acknowledged only once Kafka or the DLQ holds it.

Back-pressure: the broker sends at most ``max_in_flight`` unacknowledged messages (MQTT v5
Receive Maximum; Mosquitto honours it per client), so while Kafka is slow or down we stop
acknowledging, the broker stops sending and queues for our persistent session instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from contract.errors import ValidationError
from contract.schemas import DeviceStatus, PredictionEvent, parse_device_status, parse_prediction
from contract.schemas.dlq import DlqRecord
from contract.topics import UPLINK_RE
from services.gateway.guard import DeviceGuard
from services.gateway.metrics import GatewayMetrics
from services.gateway.sink import RecordSink, SinkError

log = logging.getLogger(__name__)

KINDS = ("pred", "status", "unknown")


class Pending:
    """One received MQTT message until it is acknowledged."""

    __slots__ = ("ack", "attempts", "kind", "payload", "received", "received_ts", "record", "topic")

    def __init__(self, topic: str, payload: bytes, ack: Callable[[], None]) -> None:
        self.topic = topic
        self.payload = payload
        self.ack = ack  # acknowledges to the broker (PUBACK); idempotent
        self.received = time.monotonic()
        self.received_ts = time.time()
        self.attempts = 0
        self.record: tuple[str, bytes, bytes] | None = None  # (topic, key, value) once routed
        self.kind = ""


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
        guard: DeviceGuard | None = None,
    ) -> None:
        self.sink = sink
        self.topics = topics
        self.metrics = metrics or GatewayMetrics()
        self.gateway_id = gateway_id
        self.retry_backoff_s = retry_backoff_s
        self.guard = guard or DeviceGuard(0, 1, self.metrics.registry)  # ids checked, no limit
        self._in_flight = 0
        self._cond = threading.Condition()
        self._accepting = True
        # Labeled children resolved once: a labels() lookup per message is measurable.
        self._received = {k: self.metrics.received.labels(kind=k) for k in KINDS}
        self._dlq = {k: self.metrics.dlq.labels(kind=k) for k in KINDS}
        self._produced: dict[str, Counter] = {}
        self.metrics.in_flight.set_function(lambda: self._in_flight)

    # -- intake (MQTT thread) -------------------------------------------------------------

    def submit(self, topic: str, payload: bytes, ack: Callable[[], None]) -> bool:
        """Take one message; False (not acknowledged, redelivered later) while draining."""
        with self._cond:
            if not self._accepting:
                return False
            self._in_flight += 1
        item = Pending(topic, payload, ack)
        self._route(item)
        self._send(item)
        return True

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def _route(self, item: Pending) -> None:
        """Validate and pick the Kafka topic: the schema's topic or the DLQ."""
        match = UPLINK_RE.match(item.topic)
        kind = match.group(2) if match else "unknown"
        self._received[kind].inc()
        try:
            if match is None:
                raise ValidationError(f"unexpected topic {item.topic!r}")
            device_id = match.group(1)
            self.guard.admit(device_id)  # before parsing: a flood costs little
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
            self.guard.check_ids(device_id, message)
            item.kind = kind
            item.record = (target, device_id.encode(), item.payload)
        except ValidationError as exc:
            item.kind = f"dlq:{kind}"
            record = DlqRecord.of(
                exc.reason, item.topic, item.payload, item.received_ts, self.gateway_id
            )
            item.record = (self.topics.dlq, item.topic.encode(), record.to_bytes())

    def _send(self, item: Pending) -> None:
        assert item.record is not None, "routed before it is sent"
        topic, key, value = item.record
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
        assert item.record is not None, "routed before it is sent"
        topic = item.record[0]
        if item.kind.startswith("dlq:"):
            self._dlq[item.kind[4:]].inc()
        produced = self._produced.get(topic)
        if produced is None:
            produced = self._produced[topic] = self.metrics.produced.labels(topic=topic)
        produced.inc()
        self.metrics.produce_latency.observe(time.monotonic() - item.received)
        try:
            item.ack()
        except Exception as exc:
            self.metrics.errors.labels(kind="ack_failed").inc()
            log.warning("ack of %s failed: %s", item.topic, exc)
        with self._cond:
            self._in_flight -= 1
            if self._in_flight == 0 or not self._accepting:
                self._cond.notify_all()

    def _retry(self, item: Pending, kind: str, exc: Exception) -> None:
        self.metrics.errors.labels(kind=kind).inc()
        if item.attempts in (1, 10) or item.attempts % 100 == 0:
            log.warning("%s for %s (attempt %d): %s", kind, item.topic, item.attempts, exc)
        delay = min(self.retry_backoff_s * item.attempts, 5.0)
        timer = threading.Timer(delay, self._send, args=(item,))
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
        """Nothing of its own to release (the sink and the MQTT client are closed by their
        owners); kept so the lifecycle reads the same for every part."""
