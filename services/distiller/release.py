"""Releases as the distiller sees them: the current one read back (and refused when its store
entry is corrupt) and a new one built (integer blob, reference profile, signed manifest).
Announcing it on ``model.releases`` is ``services.releases.announce``'s.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.errors import SignatureError
from contract.schemas import ReleaseManifest
from contract.signing import sign, verify
from models.errors import ModelsError
from models.student import TinyLSTM, load_student, save_student
from services.errors import ServiceError
from services.releases.keys import public_bytes
from services.releases.profile import reference_profile
from services.releases.store import ReleaseStore, ReleaseStoreError


class CurrentReleaseError(ServiceError):
    """There is no usable current release: none stored, no float student, or a corrupt entry."""


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
    except (ReleaseStoreError, SignatureError, ModelsError) as exc:
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
    """The integer blob the devices run, stamped with ``version`` (models/quantize, blob), with
    the tagging section when the student has a tagging head."""
    from models.blob import write_blob
    from models.footprint import check_fits
    from models.inttagger import student_tagger
    from models.quantize import quantize_student

    integer = quantize_student(model, labels)
    blob = write_blob(integer, model_version=version, tagger=student_tagger(model))
    check_fits(blob)
    return blob


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
