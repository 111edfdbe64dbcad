"""The device runtime: classify messages on the booted model, publish prediction events
(QoS 1, persistent session), buffer while offline, report status and run OTA updates."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from contract.limits import MAX_CHUNK
from contract.schemas import (
    DeviceStatus,
    EntitySpan,
    LabelProb,
    OtaProgress,
    PredictionEvent,
    PredictionEventV2,
)
from contract.schemas.prediction import MAX_ENTITIES
from contract.topics import (
    chunk_topic,
    device_manifest_topic,
    group_manifest_topic,
    prediction_topic,
    status_topic,
)
from contract.transport import Transport
from edge_agent.engine import Device, EntityFound
from edge_agent.errors import EdgeError


@dataclass(frozen=True)
class AgentSettings:
    device_id: str  # MQTT username and topic segment
    group: str  # rollout group: which retained manifest topic it follows
    trusted_key: bytes  # raw 32-byte Ed25519 public key releases must be signed with
    target: str = "stm32f405-tinylstm"  # releases for other targets are refused
    firmware_version: str = "1.0.0"
    buffer_size: int = 1000  # predictions kept while offline; the oldest are dropped
    topk: int = 3  # probabilities per event
    chunk_size: int = 4096  # OTA bytes per request
    chunk_timeout_s: float = 5.0  # re-request a chunk after this long without an answer
    max_chunk_failures: int = 3  # corrupt chunks in a row before the release is refused

    def __post_init__(self) -> None:
        if self.buffer_size < 1:
            raise EdgeError(f"buffer_size must be >= 1, got {self.buffer_size}")
        if len(self.trusted_key) != 32:
            raise EdgeError("trusted_key must be a raw 32-byte Ed25519 public key")
        if not 1 <= self.chunk_size <= MAX_CHUNK:
            raise EdgeError(f"chunk_size must be in 1..{MAX_CHUNK}, got {self.chunk_size}")
        if not 1 <= self.topk <= 16:
            raise EdgeError(f"topk must be in 1..16, got {self.topk}")


def entity_spans(text: str, found: Sequence[EntityFound]) -> list[EntitySpan]:
    """The wire form of the entities a device found: in text order, at most MAX_ENTITIES, each
    with its surface text (a run longer than the schema's 256 characters is left out)."""
    spans = [EntitySpan(type=kind, start=a, end=b, text=text[a:b]) for kind, a, b in found
             if b - a <= 256]  # fmt: skip
    return spans[:MAX_ENTITIES]


class Agent:
    def __init__(
        self,
        settings: AgentSettings,
        device: Device,
        transport: Transport,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from edge_agent.ota import OtaClient

        self.settings = settings
        self.device = device
        self.transport = transport
        self.clock = clock
        self.booted_at = time.monotonic()
        self.seq = 0
        self.session = f"{int(clock() * 1000):x}"  # message ids stay unique across reboots
        self.buffer: collections.deque[bytes] = collections.deque()
        self.dropped = 0  # buffered predictions lost to the bound, not yet reported
        self.dropped_total = 0
        self.published = 0
        self._lock = threading.RLock()
        self.ota = OtaClient(self)
        transport.on_connect = self._on_connect
        transport.on_message = self.ota.on_message

    # -- topics ---------------------------------------------------------------------------

    @property
    def pred_topic(self) -> str:
        return prediction_topic(self.settings.device_id)

    @property
    def status_topic(self) -> str:
        return status_topic(self.settings.device_id)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        self.device.boot()
        self.transport.start()

    def _on_connect(self) -> None:
        self.transport.subscribe(group_manifest_topic(self.settings.group), qos=1)
        self.transport.subscribe(device_manifest_topic(self.settings.device_id), qos=1)
        self.transport.subscribe(chunk_topic(self.settings.device_id), qos=1)
        self.publish_status("boot" if self.published == 0 else "heartbeat")
        self.flush()
        self.ota.resume()

    # -- predictions ----------------------------------------------------------------------

    def handle_text(self, text: str) -> PredictionEvent:
        """Classify one message and publish (or buffer) its prediction event."""
        prediction = self.device.classify(text, self.settings.topk)
        with self._lock:
            seq = self.seq
            self.seq += 1
        event = PredictionEvent(
            device_id=self.settings.device_id,
            seq=seq,
            message_id=f"{self.settings.device_id}-{self.session}-{seq}",
            text=text,
            label=prediction.label,
            confidence=prediction.confidence,
            topk=[LabelProb(label=lbl, prob=p) for lbl, p in prediction.topk],
            model_version=self.model_version,
            latency_us=prediction.latency_us,
            ts=self.clock(),
        )
        if prediction.entities is not None:  # a tagging head: schema v2 with the entities
            found = entity_spans(text, prediction.entities)
            event = PredictionEventV2(**{**event.model_dump(), "schema_version": 2}, entities=found)
        self._send(event.to_bytes())
        return event

    def _send(self, payload: bytes) -> None:
        with self._lock:
            if not self.buffer and self.transport.publish(self.pred_topic, payload, qos=1):
                self.published += 1
                return
            if len(self.buffer) >= self.settings.buffer_size:
                self.buffer.popleft()
                self.dropped += 1
                self.dropped_total += 1
            self.buffer.append(payload)

    def flush(self) -> None:
        """Publish buffered predictions (oldest first), then report any drops."""
        with self._lock:
            while self.buffer:
                if not self.transport.publish(self.pred_topic, self.buffer[0], qos=1):
                    return
                self.buffer.popleft()
                self.published += 1
            if self.dropped:
                error = f"dropped {self.dropped} predictions while offline (buffer full)"
                if self.publish_status("error", error=error):
                    self.dropped = 0

    # -- status ---------------------------------------------------------------------------

    @property
    def model_version(self) -> int:
        return self.device.state().running_version

    def publish_status(
        self, kind: str, ota: OtaProgress | None = None, error: str | None = None
    ) -> bool:
        status = DeviceStatus(
            device_id=self.settings.device_id,
            kind=kind,  # type: ignore[arg-type]
            ts=self.clock(),
            model_version=self.model_version,
            firmware_version=self.settings.firmware_version,
            uptime_s=int(time.monotonic() - self.booted_at),
            ota=ota,
            error=error,
        )
        return self.transport.publish(self.status_topic, status.to_bytes(), qos=1)

    def heartbeat(self) -> None:
        """Runs periodically: a heartbeat, buffered predictions, OTA chunk timeouts."""
        self.publish_status("heartbeat")
        self.flush()
        self.ota.tick()

    def close(self) -> None:
        self.transport.close()
