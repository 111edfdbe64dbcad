"""Release-manifest signatures: Ed25519 over ``ReleaseManifest.signing_payload()`` (the
manifest without its signature as canonical JSON). The distiller and the rollout manager
sign; the rollout manager, the control API and every device verify, all with this code.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from contract.errors import SignatureError
from contract.schemas.release import MAX_REVOKED, ReleaseManifest, RolloutGrant


def sign(manifest: ReleaseManifest, key: Ed25519PrivateKey) -> ReleaseManifest:
    """The manifest with its Ed25519 signature over ``signing_payload()``."""
    signature = key.sign(manifest.signing_payload())
    return manifest.model_copy(update={"signature": base64.b64encode(signature).decode()})


def bind(
    manifest: ReleaseManifest,
    key: Ed25519PrivateKey,
    *,
    now: float,
    ttl_s: float,
    group: str | None = None,
    device_id: str | None = None,
    revoked: Iterable[int] = (),
) -> ReleaseManifest:
    """``manifest`` bound to one group or device until ``now + ttl_s``, with the releases
    devices must refuse, and signed again: what the rollout manager sends."""
    audience = group if group is not None else device_id
    grant = RolloutGrant(
        rollout_id=f"{manifest.version}-{audience}-{int(now)}",
        group=group,
        device_id=device_id,
        issued=now,
        expires=now + ttl_s,
        revoked=sorted(set(revoked))[-MAX_REVOKED:],
    )
    return sign(manifest.model_copy(update={"rollout": grant, "signature": None}), key)


def verify(manifest: ReleaseManifest, public_key: bytes) -> None:
    """Raise :class:`SignatureError` unless ``manifest`` is signed by ``public_key`` (the raw
    32 bytes)."""
    if manifest.signature is None:
        raise SignatureError(f"release {manifest.version} is unsigned")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            base64.b64decode(manifest.signature), manifest.signing_payload()
        )
    except (InvalidSignature, binascii.Error, ValueError) as exc:
        raise SignatureError(f"release {manifest.version}: bad signature") from exc
