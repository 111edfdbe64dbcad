"""The Ed25519 key that signs release manifests, and the public half devices trust (signing and
verifying themselves: ``contract/signing.py``).

``<data_dir>/keys/release.key`` (PKCS#8 PEM, mode 0600, folder 0700) and ``release.pub`` (raw
32 bytes), the public key ``fleet device run`` trusts. The signing side (distiller, rollout
manager, demo) creates the pair on first use; devices only ever read ``release.pub``.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
)

from services.errors import ServiceError
from services.secret_files import PUBLIC_MODE, SecretFileError, create_file


class SigningKeyError(ServiceError):
    """The signing key pair cannot be read or created."""


def load_or_create_key(keys_dir: Path) -> Ed25519PrivateKey:
    """The release signing key in ``keys_dir``; a new pair is created when neither file exists.

    Created by :mod:`services.secret_files` (``release.key`` 0600, folder 0700, never
    overwritten). A ``release.pub`` without its ``release.key`` is an error: devices trust that
    public key, and a new pair would silently replace it.
    """
    private_path, public_path = keys_dir / "release.key", keys_dir / "release.pub"
    # release.key is linked before release.pub, so a pub seen first implies its key exists
    if public_path.exists() and not private_path.exists():
        raise SigningKeyError(
            f"{public_path} exists without {private_path.name}: restore the signing key "
            "(devices trust this public key); a new pair is never created over it"
        )
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        try:
            create_file(private_path, pem)  # False: another process created it first
        except SecretFileError as exc:
            raise SigningKeyError(str(exc)) from exc
    key = _load_key(private_path)
    _ensure_public(public_path, key)
    return key


def _load_key(private_path: Path) -> Ed25519PrivateKey:
    try:
        loaded = load_pem_private_key(private_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{private_path} is not a PEM private key: {exc}") from exc
    except OSError as exc:
        raise SigningKeyError(f"cannot read {private_path}: {exc}") from exc
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError(f"{private_path} holds a {type(loaded).__name__}, expected Ed25519")
    return loaded


def _ensure_public(public_path: Path, key: Ed25519PrivateKey) -> None:
    """``release.pub`` is the key's public half: created if missing, never replaced."""
    expected = public_bytes(key)
    try:
        create_file(public_path, expected, PUBLIC_MODE)
        actual = public_path.read_bytes()
    except (SecretFileError, OSError) as exc:
        raise SigningKeyError(f"cannot write {public_path}: {exc}") from exc
    if actual != expected:
        raise SigningKeyError(f"{public_path} is not the public half of {public_path.stem}.key")


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
