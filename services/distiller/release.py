"""Releases as the distiller sees them: the current one read back (and refused when its store
entry is corrupt), a new one built (integer blob, reference profile, signed manifest), and
the publisher that announces it on ``model.releases``.

Key of the compacted topic: ``<target>/v<version>``, one key per release. Keying by target
alone (the demo's first release does) would let compaction delete every release but the newest,
and a restarted processor would then have no reference profile for devices still running an
older one. The processor's ReleaseFollower reads values only, so it works with either key.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from models.errors import ModelsError
from models.student import TinyLSTM, load_student, save_student
from services.errors import ServiceError
from services.releases.profile import reference_profile
from services.releases.signing import SigningError, public_bytes, sign, verify
from services.releases.store import ReleaseStore, ReleaseStoreError
from services.schemas import ReleaseManifest


class PublishError(ServiceError):
    """The manifest could not be written to Kafka (the release stays in the store)."""


class CurrentReleaseError(ServiceError):
    """There is no usable current release: none stored, no float student, or a corrupt entry."""


def release_key(manifest: ReleaseManifest) -> bytes:
    return f"{manifest.target}/v{manifest.version}".encode()


class Publisher(ABC):
    @abstractmethod
    def publish(self, manifest: ReleaseManifest) -> None:
        """Announce a stored release. Runs on the cycle thread after ``ReleaseStore.put``;
        returns once Kafka acknowledged the record (acks=all); raises :class:`PublishError`
        otherwise (the caller retries with the same manifest, which is idempotent)."""


class MemoryPublisher(Publisher):
    def __init__(self, fail: bool = False) -> None:
        self.published: list[ReleaseManifest] = []
        self.fail = fail

    def publish(self, manifest: ReleaseManifest) -> None:
        if self.fail:
            raise PublishError("memory publisher told to fail")
        self.published.append(manifest)


class KafkaPublisher(Publisher):
    def __init__(self, bootstrap: str, topic: str, timeout_s: float = 30.0) -> None:
        self.bootstrap, self.topic, self.timeout_s = bootstrap, topic, timeout_s

    def publish(self, manifest: ReleaseManifest) -> None:
        from kafka import KafkaProducer
        from kafka.errors import KafkaError

        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, acks="all", retries=5)
        except KafkaError as exc:
            raise PublishError(f"cannot connect to Kafka at {self.bootstrap}: {exc}") from exc
        try:
            future = producer.send(self.topic, key=release_key(manifest), value=manifest.to_bytes())
            future.get(timeout=self.timeout_s)
        except KafkaError as exc:
            raise PublishError(f"release {manifest.version} not acknowledged: {exc}") from exc
        finally:
            producer.close(timeout=10)


@dataclass
class CurrentRelease:
    version: int
    manifest: ReleaseManifest
    blob: bytes
    model: TinyLSTM  # the float student it was exported from, eval mode
    labels: list[str]


def load_current(store: ReleaseStore, public_key: bytes) -> CurrentRelease:
    """The newest release of ``store``, checked: its blob matches the manifest's sha256, the
    manifest is signed by ``public_key``, the blob's header carries the same version, and its
    float student loads. Any failure raises :class:`CurrentReleaseError`."""
    from models.blob import read_blob

    version = store.latest()
    if version is None:
        raise CurrentReleaseError(f"no release in {store.root}: seed one (fleet distiller seed)")
    try:
        manifest = store.manifest(version)
        blob = store.blob(version)
        verify(manifest, public_key)
        header_version = read_blob(blob).model_version
    except (ReleaseStoreError, SigningError, ModelsError) as exc:
        raise CurrentReleaseError(f"release {version} is refused: {exc}") from exc
    if header_version != version:
        raise CurrentReleaseError(f"release {version}'s blob says version {header_version}")
    student_dir = store.student_dir(version)
    if student_dir is None:
        raise CurrentReleaseError(f"release {version} has no float student to continue from")
    try:
        model, labels = load_student(student_dir)
    except ModelsError as exc:
        raise CurrentReleaseError(f"release {version}: {exc}") from exc
    return CurrentRelease(version, manifest, blob, model, labels)


def export_blob(model: TinyLSTM, labels: Sequence[str], version: int) -> bytes:
    """The integer blob the devices run, stamped with ``version`` (models/quantize, blob)."""
    from models.blob import write_blob
    from models.quantize import quantize_student

    return write_blob(quantize_student(model, labels), model_version=version)


def build_manifest(
    version: int,
    blob: bytes,
    profile_texts: Sequence[str],
    metrics: dict[str, float],
    key: Ed25519PrivateKey,
    target: str,
    min_firmware: str,
) -> ReleaseManifest:
    """The signed manifest of ``blob``, its reference profile from ``profile_texts``."""
    profile, _ = reference_profile(blob, profile_texts)
    manifest = ReleaseManifest(
        version=version,
        sha256=hashlib.sha256(blob).hexdigest(),
        size=len(blob),
        target=target,
        min_firmware=min_firmware,
        created=datetime.fromtimestamp(time.time(), tz=UTC),
        metrics=metrics,
        reference_profile=profile,
    )
    signed = sign(manifest, key)
    verify(signed, public_bytes(key))  # a signer that cannot verify itself must not publish
    return signed


def store_release(
    store: ReleaseStore, manifest: ReleaseManifest, blob: bytes, model: TinyLSTM, labels: list[str]
) -> Path:
    """``ReleaseStore.put`` with the float student beside the blob (the next cycle's start)."""
    tmp = Path(tempfile.mkdtemp(prefix="distiller-student-"))
    try:
        save_student(model, labels, tmp)
        return store.put(manifest, blob, student_dir=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def seed_release(
    store: ReleaseStore,
    student_dir: Path,
    profile_texts: Sequence[str],
    key: Ed25519PrivateKey,
    target: str,
    min_firmware: str = "1.0.0",
    metrics: dict[str, float] | None = None,
) -> ReleaseManifest:
    """Store a trained student as the next release (1 in an empty store) so the distiller has
    something to continue from; the caller publishes the returned manifest."""
    try:
        model, labels = load_student(student_dir)
    except ModelsError as exc:
        raise CurrentReleaseError(f"cannot seed from {student_dir}: {exc}") from exc
    version = (store.latest() or 0) + 1
    blob = export_blob(model, labels, version)
    manifest = build_manifest(
        version, blob, profile_texts, metrics or {}, key, target, min_firmware
    )
    store_release(store, manifest, blob, model, labels)
    return manifest


def published_versions(bootstrap: str, topic: str, timeout_s: float = 30.0) -> set[int]:
    """Release versions whose manifest is in ``topic`` (read from the start to its end)."""
    from services.errors import ValidationError
    from services.schemas import parse_release_manifest
    from services.topic_reader import read_to_end

    versions: set[int] = set()
    for record in read_to_end(bootstrap, topic, timeout_s=timeout_s, error=PublishError):
        try:
            versions.add(parse_release_manifest(record.value).version)
        except ValidationError:
            continue
    return versions
