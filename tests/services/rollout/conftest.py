"""Factories for rollout tests: signed releases in a release store (good ones, and ones whose
on-device self-test fails), a fake clock, and a fleet of in-memory devices around a manager."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.schemas import ReleaseManifest, examples
from contract.signing import sign
from contract.transport import MemoryBroker, MemoryTransport
from edge_agent.agent import Agent, AgentSettings
from edge_agent.memory import MemoryDevice
from models.blob import read_blob, write_blob
from services.releases.announce import MemoryAnnouncer
from services.releases.keys import load_or_create_key, public_bytes
from services.releases.store import ReleaseStore
from services.rollout.adapters import MemoryManifestPublisher, MemoryStateStore
from services.rollout.chunks import ChunkServer
from services.rollout.manager import RolloutManager
from services.rollout.metrics import RolloutMetrics
from services.rollout.settings import RolloutSettings, StageSpec
from services.settings import REPO_ROOT

GOLDEN_BLOB = REPO_ROOT / "tests" / "golden" / "intlstm" / "model.blob"
TARGET = "stm32f405-tinylstm"
GROUPS = {"dev-0001": "canary", "dev-0002": "canary", "dev-0003": "fleet", "dev-0004": "fleet",
          "dev-0005": "fleet", "dev-0006": "fleet"}  # fmt: skip


def golden_blob() -> bytes:
    return GOLDEN_BLOB.read_bytes()


def release_blob(version: int, selftest_ok: bool = True) -> bytes:
    """The golden model as release ``version``; with ``selftest_ok=False`` one expected logit
    of the STST self-test (the last tensor) is off by one, so devices revert it."""
    blob = write_blob(read_blob(golden_blob()).model, version)
    if selftest_ok:
        return blob
    bad = bytearray(blob)
    bad[-8] ^= 1  # the last logit of the last self-test record
    bad[-4:] = zlib.crc32(bytes(bad[:-4])).to_bytes(4, "little")
    return bytes(bad)


@dataclass
class Releases:
    """A release store and the signing key of one test."""

    root: Path
    keys_dir: Path
    key: Ed25519PrivateKey
    store: ReleaseStore = field(init=False)

    def __post_init__(self) -> None:
        self.store = ReleaseStore(self.root)

    @property
    def public(self) -> bytes:
        return public_bytes(self.key)

    def manifest(self, version: int, blob: bytes, key: Ed25519PrivateKey | None = None):
        manifest = examples.release_manifest(version).model_copy(
            update={"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob),
                    "target": TARGET, "created": datetime.now(UTC)}
        )  # fmt: skip
        return sign(manifest, key or self.key)

    def add(self, version: int, selftest_ok: bool = True) -> ReleaseManifest:
        """Store and sign release ``version`` (what the distiller does before publishing)."""
        blob = release_blob(version, selftest_ok)
        manifest = self.manifest(version, blob)
        self.store.put(manifest, blob)
        return manifest


@pytest.fixture
def releases(tmp_path) -> Releases:
    keys_dir = tmp_path / "keys"
    return Releases(tmp_path / "releases", keys_dir, load_or_create_key(keys_dir))


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


TEST_STAGES = (
    StageSpec(group="canary", min_confirmed=1.0, max_failed=0.0, bake_s=10.0, timeout_s=100.0),
    StageSpec(group="fleet", min_confirmed=0.75, max_failed=0.25, bake_s=0.0, timeout_s=100.0),
)


class Fleet:
    """A manager on a :class:`MemoryBroker` with in-memory devices; device reports reach the
    manager only on :meth:`pump` (in production they travel through the gateway and Kafka)."""

    def __init__(self, releases: Releases, settings: RolloutSettings, state=None, sink=None):
        self.releases = releases
        self.broker = MemoryBroker()
        self.clock = FakeClock()
        self.publisher = MemoryManifestPublisher(self.broker)
        self.state = state or MemoryStateStore()
        self.sink = sink or MemoryAnnouncer()
        self.chunks = ChunkServer()
        self.metrics = RolloutMetrics.create()
        self.inbox: list[bytes] = []
        self.agents: dict[str, Agent] = {}
        server = MemoryTransport(self.broker)
        server.on_message = lambda topic, payload: (
            (reply := self.chunks.answer(topic, payload)) and server.publish(*reply)
        )
        server.start()
        server.subscribe("fleet/+/ota/req")
        reports = MemoryTransport(self.broker)
        reports.on_message = lambda topic, payload: self.inbox.append(payload)
        reports.start()
        reports.subscribe("fleet/+/status")
        self.manager = self.new_manager(settings)

    def new_manager(self, settings: RolloutSettings) -> RolloutManager:
        """A manager on this fleet's adapters (a restart: call ``load()`` on it)."""
        self.manager = RolloutManager(
            settings, self.releases.store, self.releases.public, self.releases.key, GROUPS,
            self.publisher, self.state, self.sink, self.chunks, self.metrics, clock=self.clock,
        )  # fmt: skip
        return self.manager

    def add_device(self, device_id: str) -> Agent:
        device = MemoryDevice()
        device.provision(golden_blob(), 1)
        settings = AgentSettings(device_id=device_id, group=GROUPS[device_id],
                                 trusted_key=self.releases.public, chunk_size=16_384)  # fmt: skip
        agent = Agent(settings, device, MemoryTransport(self.broker), clock=self.clock)
        agent.start()
        self.agents[device_id] = agent
        return agent

    def pump(self) -> None:
        """Deliver the queued device reports, judge the stages, persist; until quiet."""
        for _ in range(20):
            batch, self.inbox[:] = list(self.inbox), []
            for payload in batch:
                self.manager.on_status(payload)
            self.manager.tick()
            self.manager.flush()
            if not self.inbox:
                return
        raise AssertionError("device reports did not settle")

    def versions(self, group: str | None = None) -> dict[str, int]:
        return {d: a.model_version for d, a in self.agents.items()
                if group is None or GROUPS[d] == group}  # fmt: skip

    def group_manifest_versions(self, group: str) -> list[int | None]:
        """Every manifest version published on the group's topic, in order (None = cleared)."""
        return [
            ReleaseManifest.model_validate_json(p).version if p else None
            for g, p in self.publisher.history
            if g == group
        ]


@pytest.fixture
def fleet_factory(releases) -> Callable[..., Fleet]:
    """``make(devices=all six, state=None, sink=None, **settings) -> Fleet`` with the devices
    started (``state`` and ``sink`` default to in-memory doubles)."""

    def make(devices=tuple(GROUPS), state=None, sink=None, **overrides) -> Fleet:
        settings = RolloutSettings(
            **{"stages": TEST_STAGES, "metrics_port": 0, "release_root": releases.root,
               "keys_dir": releases.keys_dir, **overrides}
        )  # fmt: skip
        fleet = Fleet(releases, settings, state, sink)
        for device_id in devices:
            fleet.add_device(device_id)
        fleet.pump()
        return fleet

    return make
