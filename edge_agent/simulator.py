"""Fleet simulator: N agents in one process, each with its own account and secret, its own
C engine and flash, fed with synthetic logistics messages following a drift-phase schedule
(one phase, or e.g. ``0:60,2`` = phase 0 for 60 s, then phase 2 until the end).

Each device has its own paho client and network thread (``loop_start``); classification runs
on the driver thread, which paces the whole fleet at ``rate`` messages per second.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from contract.mqtt import MqttAccess
from edge_agent.agent import Agent, AgentSettings
from edge_agent.clib import CDevice
from edge_agent.errors import EdgeError
from edge_agent.transport import PahoTransport

HEARTBEAT_S = 30.0  # per device, staggered across the fleet


@dataclass(frozen=True)
class SimSettings:
    devices: int  # simulated devices (registry accounts ``sim-0000`` ..)
    rate: float  # messages per second, whole fleet
    phase: int  # synthetic data drift phase 0, 1 or 2
    duration_s: float | None = None  # stop after this long ...
    count: int | None = None  # ... or after this many messages (whichever comes first)
    seed: int = 0  # synthetic data seed
    schedule: tuple[tuple[int, float], ...] = ()  # (phase, seconds) run before ``phase``

    def __post_init__(self) -> None:
        if self.devices < 1:
            raise EdgeError(f"devices must be >= 1, got {self.devices}")
        if self.rate <= 0:
            raise EdgeError(f"rate must be > 0, got {self.rate}")
        for phase in (self.phase, *(p for p, _ in self.schedule)):
            if phase not in (0, 1, 2):
                raise EdgeError(f"phase must be 0, 1 or 2, got {phase}")
        if any(seconds <= 0 for _, seconds in self.schedule):
            raise EdgeError("every scheduled phase needs a duration > 0 seconds")
        if self.duration_s is None and self.count is None:
            raise EdgeError("give --duration or --count")

    def phase_at(self, elapsed_s: float) -> int:
        """The drift phase in force ``elapsed_s`` seconds into the run."""
        for phase, seconds in self.schedule:
            if elapsed_s < seconds:
                return phase
            elapsed_s -= seconds
        return self.phase

    @property
    def phases(self) -> tuple[int, ...]:
        return tuple(sorted({self.phase, *(p for p, _ in self.schedule)}))


@dataclass
class SimCounts:
    connected: int = 0
    sent: int = 0  # messages classified
    published: int = 0  # handed to MQTT
    buffered: int = 0  # waiting offline
    dropped: int = 0  # lost to full offline buffers
    model_versions: str = ""
    elapsed_s: float = 0.0


def parse_phases(spec: str) -> tuple[int, tuple[tuple[int, float], ...]]:
    """``"2"`` -> (2, ()); ``"0:60,1:30,2"`` -> (2, ((0, 60.0), (1, 30.0))).

    Every entry but the last is ``phase:seconds``; the last phase runs until the end.
    """
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts:
        raise EdgeError("empty phase schedule; expected e.g. 0 or 0:60,2")
    schedule: list[tuple[int, float]] = []
    try:
        for part in parts[:-1]:
            phase, _, seconds = part.partition(":")
            if not seconds:
                raise EdgeError(f"{part!r}: every phase but the last needs phase:seconds")
            schedule.append((int(phase), float(seconds)))
        last = int(parts[-1].partition(":")[0])
    except ValueError as exc:
        raise EdgeError(f"bad phase schedule {spec!r}: expected e.g. 0 or 0:60,2") from exc
    return last, tuple(schedule)


def synthetic_texts(phase: int, seed: int, n: int = 2000) -> list[str]:
    from models.data.synth import SynthConfig, synth_examples

    config = SynthConfig(seed=seed, train=10, valid=0, test=n)
    return [e.text for e in synth_examples(config, phase, "test") if e.text]


@dataclass(frozen=True)
class SimDevice:
    """One simulated device: its id, its rollout group and how its account reaches the broker."""

    id: str
    group: str
    mqtt: MqttAccess


class Fleet:
    def __init__(
        self, devices: list[SimDevice], trusted_key: bytes, blob: bytes, blob_version: int
    ) -> None:
        self.agents: list[Agent] = []
        for account in devices:
            device = CDevice()
            device.provision(blob, blob_version)
            transport = PahoTransport(account.mqtt, session_expiry_s=600)
            settings = AgentSettings(device_id=account.id, group=account.group,
                                     trusted_key=trusted_key)  # fmt: skip
            self.agents.append(Agent(settings, device, transport))

    def start(self, timeout_s: float = 30.0) -> None:
        for agent in self.agents:
            agent.start()
        deadline = time.monotonic() + timeout_s
        while self.connected() < len(self.agents) and time.monotonic() < deadline:
            time.sleep(0.1)

    def connected(self) -> int:
        return sum(agent.transport.connected for agent in self.agents)

    def counts(self, sent: int, elapsed_s: float) -> SimCounts:
        versions = sorted({a.model_version for a in self.agents})
        return SimCounts(
            connected=self.connected(),
            sent=sent,
            published=sum(a.published for a in self.agents),
            buffered=sum(len(a.buffer) for a in self.agents),
            dropped=sum(a.dropped_total for a in self.agents),
            model_versions=",".join(map(str, versions)),
            elapsed_s=elapsed_s,
        )

    def run(
        self,
        settings: SimSettings,
        texts: list[str] | Mapping[int, list[str]],
        report: Callable[[SimCounts], None],
    ) -> SimCounts:
        """Send messages round-robin at ``settings.rate`` until duration or count is reached.

        ``texts`` is one list, or a list per drift phase for a scheduled run.
        """
        by_phase: Mapping[int, list[str]] | None = None
        flat: list[str] = []
        if isinstance(texts, Mapping):
            by_phase = texts
            missing = set(settings.phases) - set(by_phase)
            if missing:
                raise EdgeError(f"no texts for scheduled phases {sorted(missing)}")
        else:
            flat = list(texts)
        start = time.monotonic()
        last_report = 0.0
        heartbeat_every = HEARTBEAT_S / len(self.agents)
        next_heartbeat = start + heartbeat_every
        hb_cycle = itertools.cycle(self.agents)
        sent = 0
        for i in itertools.count():
            now = time.monotonic()
            if settings.count is not None and sent >= settings.count:
                break
            if settings.duration_s is not None and now - start >= settings.duration_s:
                break
            due = start + i / settings.rate
            if due > now:
                time.sleep(due - now)
            if by_phase is not None:
                pool = by_phase[settings.phase_at(max(due, now) - start)]
                text = pool[i % len(pool)]
            else:
                text = flat[i % len(flat)]
            self.agents[i % len(self.agents)].handle_text(text)
            sent += 1
            now = time.monotonic()
            while now >= next_heartbeat:
                next(hb_cycle).heartbeat()
                next_heartbeat += heartbeat_every
            if now - last_report >= 0.5:
                report(self.counts(sent, now - start))
                last_report = now
        final = self.counts(sent, time.monotonic() - start)
        report(final)
        return final

    def close(self) -> None:
        for agent in self.agents:
            agent.close()
