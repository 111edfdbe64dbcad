"""Device traffic for the demo: the edge agent's fleet simulator (``edge_agent.simulator``),
each device an agent with its own registry account, its own C engine (``libtinylstm.so`` via
ctypes) and flash provisioned with the release's blob, fed synthetic messages of one drift
phase and then of another.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from contract.topics import prediction_topic
from services.errors import ServiceError
from services.security.access import Access
from services.stack.registry import Device, Registry


@dataclass
class TrafficStats:
    published: dict[int, int] = field(default_factory=dict)  # phase -> handed to MQTT (QoS 1)
    sent: int = 0  # messages the devices classified
    undelivered: int = 0  # still buffered offline or dropped when the run ended
    malformed: int = 0  # deliberately broken payloads (the gateway dead-letters them)


def simulated_accounts(registry: Registry, devices: int) -> list[Device]:
    """The registry's simulator accounts (``[simulated]``, ``sim-0000`` ..), ``devices`` of them."""
    prefix = registry.simulated.prefix if registry.simulated else "sim"
    accounts = [d for d in registry.devices if d.id.startswith(f"{prefix}-")][:devices]
    if len(accounts) < devices:
        raise ServiceError(
            f"the registry has {len(accounts)} simulated devices, the demo wants {devices}: "
            f"run `fleet devices provision --count {devices}`"
        )
    return accounts


def demo_accounts(registry: Registry, devices: int, canary: int) -> list[Device]:
    """``canary`` devices of the registry's ``canary`` group first, then simulator accounts
    (group ``[simulated].group``, ``fleet``) up to ``devices``: a staged rollout has a canary
    stage and a fleet stage to show. Mosquitto's ACLs let a device read only its own group's
    manifest topic, so the groups must come from the registry, not from the demo."""
    members = registry.group_members("canary")[:canary]
    if len(members) < canary:
        raise ServiceError(
            f"the registry's canary group has {len(members)} devices, the demo wants {canary}"
        )
    return [*members, *simulated_accounts(registry, devices - canary)]


class SimulatedFleet:
    """Drives ``edge_agent.simulator.Fleet`` through a schedule of phases on its own thread."""

    def __init__(
        self,
        accounts: list[Device],
        access: Access,
        trusted_key: bytes,
        blob: Path,
        rate_hz: float,
    ) -> None:
        from edge_agent.errors import EdgeError
        from edge_agent.simulator import Fleet
        from models.blob import read_blob
        from services.devices.cli import sim_devices

        data = blob.read_bytes()
        self.version = read_blob(data).model_version
        try:
            self.fleet = Fleet(sim_devices(access, accounts), trusted_key, data, self.version)
        except EdgeError as exc:
            raise ServiceError(f"the fleet simulator could not start: {exc}") from exc
        self.accounts = accounts
        self.rate = rate_hz * len(accounts)  # messages per second, whole fleet
        groups: dict[str, list[str]] = {}
        for account in accounts:
            groups.setdefault(account.group, []).append(account.id)
        members = ", ".join(
            f"{g} {len(ids)} ({ids[0]}{' ..' if len(ids) > 1 else ''})" for g, ids in groups.items()
        )
        self.description = (
            f"{len(accounts)} edge agents (edge_agent.simulator; groups: {members}), each on the "
            f"C engine (libtinylstm.so via ctypes) with release {self.version}'s blob in its "
            "flash and an OTA client that trusts var/keys/release.pub"
        )
        self.stats = TrafficStats()
        self.schedule: list[tuple[int, float]] = []
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def connect(self, timeout_s: float = 60) -> None:
        """Boot every device and connect it to the broker."""
        self.fleet.start(timeout_s)
        if self.fleet.connected() < len(self.accounts):
            raise ServiceError(
                f"only {self.fleet.connected()}/{len(self.accounts)} devices connected"
            )

    def start(self, schedule: list[tuple[int, float]], texts: dict[int, list[str]]) -> None:
        """Publish ``(phase, until Unix time)`` segments in order; returns at once. The last
        segment's end may be ``math.inf``: :meth:`finish_at` sets it later."""
        self.schedule = list(schedule)
        self._thread = threading.Thread(
            target=self._run, args=(texts,), name="demo-fleet", daemon=True
        )
        self._thread.start()

    def finish_at(self, until: float) -> None:
        """End the last segment at ``until`` (Unix time) instead of when it was planned."""
        phase, _ = self.schedule[-1]
        self.schedule[-1] = (phase, until)

    def switch_at(self, at: float, phase: int) -> None:
        """End the last segment at ``at`` and continue with ``phase`` (open-ended)."""
        self.schedule = [*self.schedule[:-1], (self.schedule[-1][0], at), (phase, math.inf)]

    def _phase_now(self) -> int | None:
        now = time.time()
        for phase, until in self.schedule:
            if now < until:
                return phase
        return None

    def _run(self, texts: dict[int, list[str]]) -> None:
        # The simulator's own driver (Fleet.run) paces one segment of known length; the demo's
        # last segment lasts until the new release reached every device, so this loop paces
        # the agents itself, the same way: round robin at ``rate``, heartbeats staggered so
        # every device reports every HEARTBEAT_S (the rollout manager's liveness).
        from edge_agent.simulator import HEARTBEAT_S

        agents = self.fleet.agents
        try:
            start = time.monotonic()
            heartbeat_every = HEARTBEAT_S / len(agents)
            next_heartbeat, beats = start + heartbeat_every, itertools.cycle(agents)
            current, at_switch = None, 0
            for i in itertools.count():
                due = start + i / self.rate
                time.sleep(max(due - time.monotonic(), 0))
                phase = self._phase_now()
                if phase != current:  # per phase: what the agents handed to MQTT meanwhile
                    published = sum(a.published for a in agents)
                    if current is not None:
                        self.stats.published[current] = (
                            self.stats.published.get(current, 0) + published - at_switch
                        )
                    current, at_switch = phase, published
                if phase is None:
                    break
                pool = texts[phase]
                agents[i % len(agents)].handle_text(pool[i % len(pool)])
                self.stats.sent += 1
                while time.monotonic() >= next_heartbeat:
                    next(beats).heartbeat()
                    next_heartbeat += heartbeat_every
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def versions(self) -> dict[str, int]:
        """Device id -> the model version its engine runs now."""
        return {a.settings.device_id: a.model_version for a in self.fleet.agents}

    def send_malformed(self, count: int) -> None:
        """One device's broken payloads (a truncated JSON message), for the dead-letter path.
        Sent on that device's own connection: the broker allows one per device."""
        from edge_agent.transport import PahoTransport

        agent = self.fleet.agents[0]
        transport = agent.transport
        if not isinstance(transport, PahoTransport):
            raise ServiceError("malformed payloads need a device on a real MQTT connection")
        topic = prediction_topic(agent.settings.device_id)
        for _ in range(count):
            info = transport.client.publish(topic, b'{"text": "half a mes', qos=1)
            info.wait_for_publish(10)
            self.stats.malformed += 1

    def stop(self, wait: bool = True) -> TrafficStats:
        """Wait for the schedule to end (``wait`` False: end it now), drain, disconnect."""
        if not wait:
            now = time.time()
            self.schedule = [(phase, min(until, now)) for phase, until in self.schedule]
        if self._thread is not None:
            self._thread.join()
        self.fleet.close()  # waits for the broker to acknowledge each device's last publish
        if self.error is not None:
            raise ServiceError(f"device traffic failed: {self.error!r}") from self.error
        agents = self.fleet.agents
        self.stats.undelivered = sum(len(a.buffer) + a.dropped_total for a in agents)
        return self.stats
