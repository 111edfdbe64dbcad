"""The rollout manager's outputs to the outside, as small abstract bases, with the in-memory
doubles the unit tests use. The real ones: ``publisher.py`` (retained manifests over MQTT) and
``state.py`` (Kafka state topic); release announcements are ``services.releases.announce``'s."""

from __future__ import annotations

import abc

from contract.schemas.rollout import RolloutRecord
from contract.topics import group_manifest_topic
from contract.transport import MemoryBroker
from services.errors import ServiceError


class RolloutIOError(ServiceError):
    """An output was not acknowledged: the manager retries the step, inputs stay uncommitted."""


class ManifestPublisher(abc.ABC):
    @abc.abstractmethod
    def publish(self, group: str, payload: bytes | None) -> None:
        """Runs when a stage starts or a halt restores a group: make ``payload`` the retained
        manifest of ``fleet/groups/<group>/ota`` (``None`` clears it). Returns once the broker
        acknowledged it; raises :class:`RolloutIOError` otherwise (nothing is assumed sent)."""

    def close(self) -> None:  # noqa: B027 - optional hook; the doubles hold nothing
        """Runs at shutdown."""


class StateStore(abc.ABC):
    @abc.abstractmethod
    def load(self) -> dict[int, RolloutRecord]:
        """Runs once at start: the latest record of every release version."""

    @abc.abstractmethod
    def save(self, record: RolloutRecord) -> None:
        """Runs after every change, before the inputs that caused it are committed; returns
        once the record is durable, raises :class:`RolloutIOError` otherwise."""

    def close(self) -> None:  # noqa: B027 - optional hook; the doubles hold nothing
        """Runs at shutdown."""


class MemoryManifestPublisher(ManifestPublisher):
    """Publishes retained on a :class:`MemoryBroker`; clearing removes the retained copy."""

    def __init__(self, broker: MemoryBroker) -> None:
        self.broker = broker
        self.history: list[tuple[str, bytes | None]] = []  # (group, payload) in order

    def publish(self, group: str, payload: bytes | None) -> None:
        self.history.append((group, payload))
        if payload is None:
            self.broker.retained.pop(group_manifest_topic(group), None)
            return
        self.broker.route(group_manifest_topic(group), payload, retain=True)


class MemoryStateStore(StateStore):
    def __init__(self) -> None:
        self.records: dict[int, RolloutRecord] = {}
        self.saves = 0

    def load(self) -> dict[int, RolloutRecord]:
        return dict(self.records)

    def save(self, record: RolloutRecord) -> None:
        self.records[record.version] = record
        self.saves += 1
