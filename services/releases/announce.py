"""Release announcements on the compacted ``model.releases`` topic: the one key rule, the one
writer (the distiller's new releases and the rollout manager's roll-forwards both go through
:class:`KafkaAnnouncer`) and reading the announced versions back.

Key: ``<target>/v<version>``, one key per release. Compaction keeps the newest value of each
key, so every release keeps its manifest, and with it the reference profile that the
processor measures drift against for the devices still running it. Keying by target alone
would let compaction delete every release of a target but the newest one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from contract.errors import ValidationError
from contract.schemas import ReleaseManifest, parse_release_manifest
from services.errors import ServiceError
from services.security.kafka import KafkaAccess
from services.topic_reader import read_to_end


class AnnounceError(ServiceError):
    """The manifest was not acknowledged by Kafka (the release stays in the store), or the
    announcements cannot be read back."""


def release_key(manifest: ReleaseManifest) -> bytes:
    """The record key of ``manifest`` on ``model.releases``."""
    return f"{manifest.target}/v{manifest.version}".encode()


class ReleaseAnnouncer(ABC):
    @abstractmethod
    def publish(self, manifest: ReleaseManifest) -> None:
        """Announce a stored release (after ``ReleaseStore.put``: the next hop has the bytes);
        returns once Kafka acknowledged the record (acks=all), raises :class:`AnnounceError`
        otherwise. Publishing the same manifest again is harmless (same key, same value)."""

    def close(self) -> None:  # noqa: B027 - optional hook; the announcers hold no connection
        """Runs at shutdown."""


class MemoryAnnouncer(ReleaseAnnouncer):
    """Keeps what was announced; ``fail`` makes every publish fail like an unreachable broker."""

    def __init__(self, fail: bool = False) -> None:
        self.published: list[ReleaseManifest] = []
        self.fail = fail

    def publish(self, manifest: ReleaseManifest) -> None:
        if self.fail:
            raise AnnounceError("memory announcer told to fail")
        self.published.append(manifest)


class KafkaAnnouncer(ReleaseAnnouncer):
    """One producer per announcement: releases are rare, and nothing stays open between them."""

    def __init__(self, kafka: KafkaAccess, topic: str, timeout_s: float = 30.0) -> None:
        self.kafka, self.topic, self.timeout_s = kafka, topic, timeout_s

    def publish(self, manifest: ReleaseManifest) -> None:
        from kafka.errors import KafkaError

        try:
            producer = self.kafka.producer(acks="all", retries=5)
        except KafkaError as exc:
            raise AnnounceError(f"cannot connect to Kafka at {self.kafka}: {exc}") from exc
        try:
            future = producer.send(self.topic, key=release_key(manifest), value=manifest.to_bytes())
            future.get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise AnnounceError(f"release {manifest.version} not acknowledged: {exc}") from exc
        finally:
            producer.close(timeout=10)


def announced(
    kafka: KafkaAccess, topic: str, timeout_s: float = 30.0
) -> dict[bytes, ReleaseManifest]:
    """What compaction keeps of ``topic``: the newest valid manifest of every key, read from the
    start to the end it has now."""
    kept: dict[bytes, ReleaseManifest] = {}
    for record in read_to_end(kafka, topic, timeout_s=timeout_s, error=AnnounceError):
        try:
            kept[record.key or b""] = parse_release_manifest(record.value)
        except ValidationError:
            continue
    return kept


def published_versions(kafka: KafkaAccess, topic: str, timeout_s: float = 30.0) -> set[int]:
    """Release versions whose manifest is on ``topic``."""
    return {m.version for m in announced(kafka, topic, timeout_s).values()}
