"""Device traffic for the demo: the edge agent's fleet simulator (``edge_agent.simulator``),
each device an agent with its own registry account, its own C engine (``libtinylstm.so`` via
ctypes) and flash provisioned with the release's blob, fed synthetic messages of one drift
phase and then of another.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.errors import ServiceError
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


class SimulatedFleet:
    """Drives ``edge_agent.simulator.Fleet`` through a schedule of phases on its own thread."""

    def __init__(
        self,
        accounts: list[Device],
        host: str,
        port: int,
        trusted_key: bytes,
        blob: Path,
        rate_hz: float,
    ) -> None:
        from edge_agent.errors import EdgeError
        from edge_agent.simulator import Fleet
        from models.blob import read_blob

        data = blob.read_bytes()
        self.version = read_blob(data).model_version
        try:
            self.fleet = Fleet(accounts, host, port, trusted_key, data, self.version)
        except EdgeError as exc:
            raise ServiceError(f"the fleet simulator could not start: {exc}") from exc
        self.accounts, self.host, self.port = accounts, host, port
        self.rate = rate_hz * len(accounts)  # messages per second, whole fleet
        self.description = (
            f"{len(accounts)} edge agents (edge_agent.simulator: {accounts[0].id} ..), each on "
            f"the C engine (libtinylstm.so via ctypes) with the release's blob in its flash"
        )
        self.stats = TrafficStats()
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
        """Publish ``(phase, until Unix time)`` segments in order; returns at once."""
        self._thread = threading.Thread(
            target=self._run, args=(schedule, texts), name="demo-fleet", daemon=True
        )
        self._thread.start()

    def _run(self, schedule: list[tuple[int, float]], texts: dict[int, list[str]]) -> None:
        from edge_agent.simulator import SimSettings

        try:
            published = 0
            for phase, until in schedule:
                settings = SimSettings(
                    devices=len(self.accounts),
                    rate=self.rate,
                    phase=phase,
                    duration_s=max(until - time.time(), 0.001),
                )
                counts = self.fleet.run(settings, texts[phase], lambda _: None)
                # counts.sent is this call's; counts.published is the agents' running total
                self.stats.sent += counts.sent
                self.stats.published[phase] = counts.published - published
                published = counts.published
                self.stats.undelivered = counts.buffered + counts.dropped
        except BaseException as exc:  # surfaced by stop()
            self.error = exc

    def send_malformed(self, count: int) -> None:
        """One device's broken payloads (a truncated JSON message), for the dead-letter path."""
        import paho.mqtt.client as mqtt

        device = self.accounts[0]
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"{device.id}-demo-malformed",
        )
        client.username_pw_set(device.username, device.password)
        client.connect(self.host, self.port)
        client.loop_start()
        try:
            for _ in range(count):
                info = client.publish(f"fleet/{device.id}/pred", b'{"text": "half a mes', qos=1)
                info.wait_for_publish(10)
                self.stats.malformed += 1
        finally:
            client.disconnect()
            client.loop_stop()

    def stop(self, wait: bool = True) -> TrafficStats:
        """Wait for the schedule to end (unless ``wait`` is False), drain, disconnect."""
        if self._thread is not None and wait:
            self._thread.join()
        self.fleet.close()  # waits for the broker to acknowledge each device's last publish
        if self.error is not None:
            raise ServiceError(f"device traffic failed: {self.error!r}") from self.error
        return self.stats
