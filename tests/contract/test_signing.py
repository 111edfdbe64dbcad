import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from contract.errors import SignatureError
from contract.schemas import examples
from contract.signing import sign, verify


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_a_signed_manifest_verifies_only_unchanged_and_against_its_key():
    key = Ed25519PrivateKey.generate()
    signed = sign(examples.release_manifest(3), key)
    verify(signed, raw_public(key))
    with pytest.raises(SignatureError, match="bad signature"):
        verify(signed.model_copy(update={"version": 4}), raw_public(key))
    with pytest.raises(SignatureError, match="unsigned"):
        verify(signed.model_copy(update={"signature": None}), raw_public(key))
    with pytest.raises(SignatureError, match="bad signature"):
        verify(signed, raw_public(Ed25519PrivateKey.generate()))
    with pytest.raises(SignatureError, match="bad signature"):
        verify(signed, b"short")  # not a public key at all
