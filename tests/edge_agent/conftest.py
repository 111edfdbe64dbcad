"""Factories for edge-agent tests: signed releases of the golden model, devices, agents."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contract.schemas import examples
from contract.schemas.release import ReleaseManifest
from contract.signing import bind
from contract.signing import sign as sign_manifest
from contract.transport import MemoryBroker, MemoryTransport
from edge_agent.agent import Agent, AgentSettings
from edge_agent.memory import MemoryDevice
from models.blob import read_blob, write_blob
from services.settings import REPO_ROOT

GOLDEN_BLOB = REPO_ROOT / "tests" / "golden" / "intlstm" / "model.blob"
TARGET = "stm32f405-tinylstm"


@functools.cache
def golden_blob() -> bytes:
    return GOLDEN_BLOB.read_bytes()


@functools.cache
def blob_version(version: int) -> bytes:
    """The golden model re-released as ``version``."""
    return write_blob(read_blob(golden_blob()).model, version)


@dataclass(frozen=True)
class Release:
    blob: bytes
    manifest: ReleaseManifest

    def payload(self) -> bytes:
        return self.manifest.to_bytes()


@dataclass(frozen=True)
class Keys:
    private: Ed25519PrivateKey
    public_raw: bytes


def make_keys() -> Keys:
    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return Keys(private, raw)


@pytest.fixture
def keys() -> Keys:
    return make_keys()


NOW = 1_800_000_000.0  # the agents' clock in these tests


@pytest.fixture
def release_factory(keys) -> Callable[..., Release]:
    """``make(version, target=TARGET, signer=None, blob=None, group="canary", device=None,
    issued=NOW, revoked=()) -> Release``: signed and bound to ``group`` (or ``device``) for an
    hour, as the rollout manager sends it (``group=None`` and no ``device``: the distiller's
    manifest, without a rollout grant)."""

    def make(
        version: int,
        target: str = TARGET,
        signer: Keys | None = None,
        blob: bytes | None = None,
        group: str | None = "canary",
        device: str | None = None,
        issued: float = NOW,
        revoked: tuple[int, ...] = (),
    ) -> Release:
        blob = blob if blob is not None else blob_version(version)
        manifest = examples.release_manifest(version).model_copy(
            update={
                "sha256": hashlib.sha256(blob).hexdigest(),
                "size": len(blob),
                "target": target,
                "created": datetime.now(UTC),
            }
        )
        key = (signer or keys).private
        if device is not None:
            bound = bind(manifest, key, now=issued, ttl_s=3600, device_id=device, revoked=revoked)
            return Release(blob, bound)
        if group is None:
            return Release(blob, sign_manifest(manifest, key))
        bound = bind(manifest, key, now=issued, ttl_s=3600, group=group, revoked=revoked)
        return Release(blob, bound)

    return make


@pytest.fixture
def memory_agent_factory(keys) -> Callable[..., tuple[Agent, MemoryBroker]]:
    """``make(device_id="dev-0001", broker=None, **settings) -> (agent, broker)``: a started
    agent on a MemoryDevice provisioned with the golden blob (version 1)."""

    def make(device_id: str = "dev-0001", broker: MemoryBroker | None = None, **overrides):
        broker = broker or MemoryBroker()
        device = MemoryDevice()
        device.provision(golden_blob(), 1)
        settings = AgentSettings(
            device_id=device_id, group="canary", trusted_key=keys.public_raw, **overrides
        )
        agent = Agent(settings, device, MemoryTransport(broker), clock=lambda: NOW)
        agent.start()
        return agent, broker

    return make
