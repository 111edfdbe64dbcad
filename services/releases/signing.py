"""The Ed25519 key that signs release manifests, and the public half devices trust.

``<data_dir>/keys/release.key`` (PKCS#8 PEM, mode 0600) and ``release.pub`` (raw 32 bytes),
the same files ``fleet device run`` reads; a development pair is created on first use.
"""

from __future__ import annotations

import base64
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from services.errors import ServiceError
from services.schemas import ReleaseManifest


class SigningError(ServiceError):
    """The signing key cannot be read, or a manifest's signature does not verify."""


def load_or_create_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The release signing key in ``keys_dir``; a new pair is written when none exists."""
    private_path, public_path = keys_dir / "release.key", keys_dir / "release.pub"
    if not private_path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        private_path.write_bytes(pem)
        private_path.chmod(0o600)
        public_path.write_bytes(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        return key
    try:
        loaded = load_pem_private_key(private_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningError(f"{private_path} is not a PEM private key: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningError(f"{private_path} holds a {type(loaded).__name__}, expected Ed25519")
    return loaded


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sign(manifest: ReleaseManifest, key: Ed25519PrivateKey) -> ReleaseManifest:
    """The manifest with its Ed25519 signature over ``signing_payload()``."""
    signature = key.sign(manifest.signing_payload())
    return manifest.model_copy(update={"signature": base64.b64encode(signature).decode()})


def verify(manifest: ReleaseManifest, public_key: bytes) -> None:
    """Raise :class:`SigningError` unless ``manifest`` is signed by ``public_key``."""
    if manifest.signature is None:
        raise SigningError(f"release {manifest.version} is unsigned")
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            base64.b64decode(manifest.signature), manifest.signing_payload()
        )
    except (InvalidSignature, ValueError) as exc:
        raise SigningError(f"release {manifest.version}: bad signature") from exc
