import pytest

from services.releases.signing import SigningError, load_or_create_key, public_bytes, sign, verify
from services.schemas import examples


def test_key_pair_is_created_once_and_signs(tmp_path):
    key = load_or_create_key(tmp_path / "keys")
    again = load_or_create_key(tmp_path / "keys")
    assert public_bytes(key) == public_bytes(again) == (tmp_path / "keys/release.pub").read_bytes()
    assert (tmp_path / "keys/release.key").stat().st_mode & 0o777 == 0o600
    signed = sign(examples.release_manifest(3), key)
    verify(signed, public_bytes(key))
    with pytest.raises(SigningError, match="bad signature"):
        verify(signed.model_copy(update={"version": 4}), public_bytes(key))
    with pytest.raises(SigningError, match="unsigned"):
        verify(
            examples.release_manifest(3).model_copy(update={"signature": None}), public_bytes(key)
        )
    other = load_or_create_key(tmp_path / "other")
    with pytest.raises(SigningError, match="bad signature"):
        verify(signed, public_bytes(other))


def test_refuses_a_key_that_is_not_ed25519(tmp_path):
    (tmp_path / "release.key").write_text("not a key")
    with pytest.raises(SigningError, match="not a PEM private key"):
        load_or_create_key(tmp_path)
