import pytest

from services.releases.keys import SigningKeyError, load_or_create_key, public_bytes


def test_key_pair_is_created_once(tmp_path):
    key = load_or_create_key(tmp_path / "keys")
    again = load_or_create_key(tmp_path / "keys")
    assert public_bytes(key) == public_bytes(again) == (tmp_path / "keys/release.pub").read_bytes()
    assert (tmp_path / "keys/release.key").stat().st_mode & 0o777 == 0o600


def test_refuses_a_key_that_is_not_ed25519(tmp_path):
    (tmp_path / "release.key").write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        load_or_create_key(tmp_path)


def test_key_files_are_private_from_the_first_byte_and_never_replaced(tmp_path, monkeypatch):
    import os

    keys = tmp_path / "keys"
    modes: list[int] = []
    real_open = os.open

    def watching_open(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            assert flags & os.O_EXCL, f"{path} opened for creation without O_EXCL"
            modes.append(mode)
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", watching_open)
    key = load_or_create_key(keys)
    assert modes and modes[0] == 0o600  # the private key's first open already was 0600
    assert keys.stat().st_mode & 0o777 == 0o700
    assert (keys / "release.key").stat().st_mode & 0o777 == 0o600
    assert not [p for p in keys.iterdir() if p.name.startswith(".")]  # no temporary left
    before = (keys / "release.key").read_bytes()
    assert public_bytes(load_or_create_key(keys)) == public_bytes(key)
    assert (keys / "release.key").read_bytes() == before


def test_an_open_keys_folder_is_narrowed_to_0700(tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    load_or_create_key(keys)
    assert keys.stat().st_mode & 0o777 == 0o700


def test_a_public_key_without_its_private_key_is_not_silently_replaced(tmp_path):
    keys = tmp_path / "keys"
    trusted = public_bytes(load_or_create_key(keys))
    (keys / "release.key").unlink()
    with pytest.raises(SigningKeyError, match=r"exists without release\.key"):
        load_or_create_key(keys)
    assert (keys / "release.pub").read_bytes() == trusted
    assert not (keys / "release.key").exists()


def test_a_mismatched_public_key_is_refused(tmp_path):
    keys = tmp_path / "keys"
    load_or_create_key(keys)
    (keys / "release.pub").chmod(0o644)
    (keys / "release.pub").write_bytes(public_bytes(load_or_create_key(tmp_path / "other")))
    with pytest.raises(SigningKeyError, match="not the public half"):
        load_or_create_key(keys)


def test_concurrent_creators_agree_on_one_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    keys = tmp_path / "keys"
    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(lambda _: public_bytes(load_or_create_key(keys)), range(16)))
    assert len(set(made)) == 1 and (keys / "release.pub").read_bytes() == made[0]
