"""The releases ops see: those in the ReleaseStore (blobs on disk) joined with the manifests
published on Kafka ``model.releases``; the feed of published manifests is a small abstract
base with a Kafka implementation and an in-memory double."""

from __future__ import annotations

import abc
from typing import Any

from contract.errors import SignatureError, ValidationError
from contract.schemas import ReleaseManifest, parse_release_manifest
from contract.schemas.rollout import RolloutRecord, parse_rollout_record
from contract.signing import verify
from services.control.sink import CommandSinkError
from services.errors import ServiceError
from services.releases.store import ReleaseStore, ReleaseStoreError
from services.topic_reader import TopicReader


class ReleaseFeedError(ServiceError):
    """The published manifests cannot be read (Kafka unreachable, topic missing)."""


class ReleaseFeed(abc.ABC):
    @abc.abstractmethod
    def published(self) -> list[ReleaseManifest]:
        """Called per page or ``GET /api/v1/releases`` (on a worker thread): the manifests
        still on ``model.releases``, in publication order. Raises :class:`ReleaseFeedError`
        when they cannot be read; the releases are then shown from the store alone."""

    @abc.abstractmethod
    def rollouts(self) -> list[RolloutRecord]:
        """The rollout manager's records on ``model.rollouts``, in publication order (the
        last one of a version is its state). Raises :class:`ReleaseFeedError`."""


class MemoryReleaseFeed(ReleaseFeed):
    def __init__(
        self,
        manifests: list[ReleaseManifest] | None = None,
        records: list[RolloutRecord] | None = None,
    ) -> None:
        self.manifests = list(manifests or [])
        self.records = list(records or [])
        self.unavailable = False

    def published(self) -> list[ReleaseManifest]:
        if self.unavailable:
            raise ReleaseFeedError("model.releases unavailable (test double)")
        return list(self.manifests)

    def rollouts(self) -> list[RolloutRecord]:
        if self.unavailable:
            raise ReleaseFeedError("model.rollouts unavailable (test double)")
        return list(self.records)


class KafkaReleaseFeed(ReleaseFeed):
    """Reads the compacted topic from its tail (one manifest per release; ``limit`` bounds
    what is read)."""

    def __init__(
        self, reader: TopicReader, topic: str, rollouts_topic: str, limit: int = 1000
    ) -> None:
        self.reader, self.topic, self.rollouts_topic = reader, topic, rollouts_topic
        self.limit = limit

    def published(self) -> list[ReleaseManifest]:
        try:
            raws = self.reader.newest(self.topic, self.limit)
        except CommandSinkError as exc:
            raise ReleaseFeedError(str(exc)) from exc
        manifests = []
        for raw in raws:
            try:
                manifests.append(parse_release_manifest(raw))
            except ValidationError:
                continue
        return manifests

    def rollouts(self) -> list[RolloutRecord]:
        try:
            raws = self.reader.newest(self.rollouts_topic, self.limit)
        except CommandSinkError as exc:
            raise ReleaseFeedError(str(exc)) from exc
        records = []
        for raw in raws:
            try:
                records.append(parse_rollout_record(raw))
            except ValidationError:
                continue
        return records


def release_rows(
    store: ReleaseStore,
    published: list[ReleaseManifest] | None,
    public_key: bytes | None = None,
) -> list[dict[str, Any]]:
    """One row per release version, newest first: the manifest's summary, whether its blob
    is in the store, whether it is on ``model.releases`` (None: unknown, the feed failed),
    whether it is the newest published one of its target, and whether its signature
    verifies against ``public_key`` (None: no key given)."""
    manifests: dict[int, ReleaseManifest] = {}
    stored: set[int] = set()
    for version in store.versions():
        try:
            manifests[version] = store.manifest(version)
        except ReleaseStoreError:
            continue
        stored.add(version)
    on_topic = {m.version for m in published or []}
    current: dict[str, int] = {}
    for manifest in published or []:
        manifests.setdefault(manifest.version, manifest)
        current[manifest.target] = max(current.get(manifest.target, 0), manifest.version)
    rows = []
    for version in sorted(manifests, reverse=True):
        m = manifests[version]
        rows.append(
            {
                "version": version,
                "target": m.target,
                "created": m.created.isoformat(),
                "size": m.size,
                "sha256": m.sha256,
                "min_firmware": m.min_firmware,
                "signed": m.signature is not None,
                "verified": None if public_key is None else _verifies(m, public_key),
                "metrics": dict(m.metrics),
                "stored": version in stored,
                "published": None if published is None else version in on_topic,
                "current": current.get(m.target) == version,
            }
        )
    return rows


def _verifies(manifest: ReleaseManifest, public_key: bytes) -> bool:
    try:
        verify(manifest, public_key)
    except SignatureError:
        return False
    return True
