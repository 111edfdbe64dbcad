"""Device traffic for the demo: simulated devices that classify synthetic logistics messages
with the release's integer model and publish each prediction over MQTT with their own account.

:class:`Fleet` is what the demo drives: start on one drift phase, switch phases, stop and
report what the broker acknowledged. :class:`StandInFleet` runs inside the demo process on the
integer reference (``models.intlstm``, bit-exact with the C engine); ``demo_registry`` adds the
accounts for more devices than the checked-in registry has.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import ServiceError
from services.schemas import LabelProb, PredictionEvent
from services.stack.registry import Device, load_registry

MS_PER_TOKEN = 2.0  # STM32F405 DSP path: ~32 ms per 16 tokens (README, benchmarks.mcu_cost)


@dataclass
class TrafficStats:
    published: dict[int, int] = field(default_factory=dict)  # phase -> acknowledged by the broker
    failed: int = 0  # publishes the broker did not acknowledge in time
    malformed: int = 0  # deliberately broken payloads (the gateway dead-letters them)


class Fleet(ABC):
    """Devices publishing predictions. Calls come from the demo's main thread."""

    description: str  # one line for the demo's output: what runs the devices
    run_tag: str  # part of every message id this fleet publishes (tells this run's records)

    @abstractmethod
    def connect(self) -> None:
        """Connect every device to the broker (before traffic starts)."""

    @abstractmethod
    def start(self, phase: int) -> None:
        """Start publishing ``phase`` traffic; returns at once."""

    @abstractmethod
    def switch(self, phase: int, at: float) -> None:
        """From Unix time ``at`` on, publish messages of ``phase``; returns at once."""

    @abstractmethod
    def stop(self) -> TrafficStats:
        """Stop publishing, wait for the broker's acknowledgements, disconnect."""


def demo_registry(base: Path, devices: int, out: Path) -> Path:
    """``base`` plus ``demo-NNNN`` devices (group ``fleet``) until it has ``devices``."""
    registry = load_registry(base)
    missing = devices - len(registry.devices)
    if missing <= 0:
        return base
    extra = "".join(
        f'\n[[devices]]\nid = "demo-{k:04d}"\ngroup = "fleet"\npassword = "demo-{k:04d}-secret"\n'
        for k in range(1, missing + 1)
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    text = base.read_text(encoding="utf-8")
    out.write_text(f"{text}\n# Added by the demo (services/demo/devices.py){extra}", "utf-8")
    load_registry(out)  # still valid
    return out


class StandInFleet(Fleet):
    """All devices in one thread: each tick, the messages that are due are classified in one
    batch with the integer reference and published by their devices (QoS 1)."""

    def __init__(
        self,
        devices: Sequence[Device],
        host: str,
        port: int,
        blob: Path,
        texts: dict[int, list[str]],
        rate_hz: float,
        malformed: int = 0,
        seed: int = 0,
    ) -> None:
        from models.blob import read_blob
        from models.tokenizer import Tokenizer

        parsed = read_blob(blob.read_bytes())
        self.model, self.version = parsed.model, parsed.model_version
        self.tokenizer = Tokenizer(vocab_size=self.model.vocab_size, max_len=self.model.max_len)
        self.devices, self.host, self.port = list(devices), host, port
        self.texts, self.rate_hz, self.malformed = texts, rate_hz, malformed
        self.rng = random.Random(seed)
        self.run_id = f"{int(time.time()) % 100000:05d}"
        self.run_tag = f"v{self.version}-{self.run_id}"  # in every message id of this run
        self.description = (
            f"{len(self.devices)} devices in the demo process, on the integer reference of "
            f"the blob (models.intlstm, bit-exact with the C engine)"
        )
        self.stats = TrafficStats()
        self._phase = 0
        self._switch: tuple[float, int] | None = None  # (Unix time, phase from then on)
        self._stop = threading.Event()
        self._pending: list[tuple[int, object]] = []  # (phase, paho MessageInfo)
        self._clients: dict[str, object] = {}
        self._thread = threading.Thread(target=self._loop, name="demo-devices", daemon=True)
        self.error: BaseException | None = None

    def connect(self) -> None:
        import paho.mqtt.client as mqtt

        for device in self.devices:
            client = mqtt.Client(
                callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
                client_id=f"{device.id}-{self.run_id}",
            )
            client.username_pw_set(device.username, device.password)
            client.max_queued_messages_set(0)
            client.connect(self.host, self.port)
            client.loop_start()
            self._clients[device.id] = client

    def start(self, phase: int) -> None:
        self._phase = phase
        self._thread.start()

    def switch(self, phase: int, at: float) -> None:
        self._switch = (at, phase)

    def _events(self, batch: list[tuple[Device, int, str]], now: float) -> list[PredictionEvent]:
        import numpy as np

        from models.intlstm import integer_logits

        ids = [self.tokenizer.encode(text) for _, _, text in batch]
        logits = integer_logits(self.model, ids) / 1024.0  # [B, C]
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))  # [B, C]
        probs /= probs.sum(axis=1, keepdims=True)
        events = []
        for (device, seq, text), row, tokens in zip(batch, probs, ids, strict=True):
            top = np.argsort(-row, kind="stable")[:3]
            topk = [LabelProb(label=self.model.labels[k], prob=float(row[k])) for k in top]
            events.append(
                PredictionEvent(
                    device_id=device.id,
                    seq=seq,
                    message_id=f"{device.id}-{self.run_tag}-{seq}",
                    text=text,
                    label=topk[0].label,
                    confidence=topk[0].prob,
                    topk=topk,
                    model_version=self.version,
                    latency_us=int(1000 * MS_PER_TOKEN * max(len(tokens), 1)),
                    ts=now,
                )
            )
        return events

    def _loop(self) -> None:
        try:
            started, sent, seqs = time.monotonic(), 0, dict.fromkeys(self._clients, 0)
            total_rate = self.rate_hz * len(self.devices)
            while not self._stop.is_set():
                due = int((time.monotonic() - started) * total_rate) - sent
                now = time.time()  # the phase and every event's ts of this tick
                if self._switch is not None and now >= self._switch[0]:
                    self._phase = self._switch[1]
                phase = self._phase
                batch = []
                for _ in range(max(due, 0)):
                    device = self.devices[sent % len(self.devices)]
                    batch.append((device, seqs[device.id], self.rng.choice(self.texts[phase])))
                    seqs[device.id] += 1
                    sent += 1
                for event in self._events(batch, now) if batch else []:
                    client = self._clients[event.device_id]
                    info = client.publish(f"fleet/{event.device_id}/pred", event.to_bytes(), qos=1)  # type: ignore[attr-defined]
                    self._pending.append((phase, info))
                if self.malformed and sent >= len(self.devices):
                    device = self.devices[0]
                    client = self._clients[device.id]
                    for _ in range(self.malformed):
                        client.publish(f"fleet/{device.id}/pred", b'{"text": "half a mes', qos=1)  # type: ignore[attr-defined]
                        self.stats.malformed += 1
                    self.malformed = 0
                self._stop.wait(0.1)
        except BaseException as exc:  # surfaced by stop(); the demo reports it
            self.error = exc

    def stop(self) -> TrafficStats:
        self._stop.set()
        self._thread.join(timeout=30)
        deadline = time.monotonic() + 30
        for phase, info in self._pending:
            # paho raises when the message was never queued (connection lost): counted failed
            acked = False
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(max(deadline - time.monotonic(), 0.1))  # type: ignore[attr-defined]
                acked = info.is_published()  # type: ignore[attr-defined]
            if acked:
                self.stats.published[phase] = self.stats.published.get(phase, 0) + 1
            else:
                self.stats.failed += 1
        for client in self._clients.values():
            client.disconnect()  # type: ignore[attr-defined]
            client.loop_stop()  # type: ignore[attr-defined]
        if self.error is not None:
            raise ServiceError(f"device traffic failed: {self.error!r}") from self.error
        return self.stats
