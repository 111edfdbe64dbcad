"""Rollback as a roll-forward.

Devices refuse any release that is not newer than what they run and their anti-rollback floor
(``edge_agent/ota.py``; the C slot manager does the same), so the fleet cannot be sent back
to release ``n-1``. Instead the rollout manager re-releases the earlier weights under a new
version: the good release's blob is re-stamped with version ``m`` (higher than every known
release), a manifest is built from the good release's (same target, firmware floor, metrics
and reference profile; new sha256, size, created time), signed with ``release.key``, stored in
the :class:`ReleaseStore` (with the good release's float student, so the distiller continues
from the weights in service) and rolled out like any release to the affected groups.

Re-stamping (``models.blob.restamp_blob``) changes only the blob header's ``model_version``
and the trailing CRC-32, so the tensors and the ``STST`` self-test are byte-identical to the
good release's.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.schemas import ReleaseManifest
from contract.signing import sign
from models.blob import restamp_blob
from models.errors import ModelsError
from services.errors import ServiceError
from services.releases.store import ReleaseStore, ReleaseStoreError


class RollbackError(ServiceError):
    """No good release to roll back to, or the roll-forward release cannot be built."""


def build_rollback(
    store: ReleaseStore,
    good_version: int,
    new_version: int,
    key: Ed25519PrivateKey,
    rolled_back: int,
) -> ReleaseManifest:
    """Store release ``new_version`` carrying ``good_version``'s weights; its signed manifest.
    Storing is idempotent, so a manager that crashed after this step can run it again."""
    try:
        good = store.manifest(good_version)
        blob = restamp_blob(store.blob(good_version), new_version)
        if new_version in store.versions():  # a retry after a crash, or the version is taken
            existing = store.manifest(new_version)
            if existing.sha256 != hashlib.sha256(blob).hexdigest():
                raise RollbackError(f"release {new_version} already exists with other bytes")
            return existing
        manifest = good.model_copy(
            update={
                "version": new_version,
                "sha256": hashlib.sha256(blob).hexdigest(),
                "size": len(blob),
                "created": datetime.now(UTC),
                "metrics": {
                    **good.metrics,
                    "rollback_of": float(rolled_back),
                    "weights_of": float(good.metrics.get("weights_of", good_version)),
                },
                "signature": None,
            }
        )
        manifest = sign(manifest, key)
        store.put(manifest, blob, store.student_dir(good_version))
    except (ReleaseStoreError, ModelsError) as exc:
        raise RollbackError(
            f"cannot build release {new_version} from {good_version}: {exc}"
        ) from exc
    return manifest
