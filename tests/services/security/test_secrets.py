"""The stack's account secrets: generated once, private from the first byte, never shown."""

from __future__ import annotations

import os
import stat

import pytest

from models.errors import ConfigError
from services.security.files import create_private, read_private, write_private
from services.security.secrets import ensure_secrets, load_secrets


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_first_use_generates_one_random_secret_per_account_in_a_private_file(tmp_path):
    path = tmp_path / "secrets" / "accounts.json"
    secrets = ensure_secrets(path, mqtt=["dev-0001", "dev-0002", "gateway"], kafka=["gateway"])
    assert _mode(path) == 0o600 and _mode(path.parent) == 0o700
    values = [
        secrets.password("mqtt", "dev-0001"),
        secrets.password("mqtt", "dev-0002"),
        secrets.password("mqtt", "gateway"),
        secrets.password("kafka", "gateway"),
    ]
    plain = [v.get_secret_value() for v in values]
    assert len(set(plain)) == 4 and all(len(p) >= 32 for p in plain)
    # shown nowhere: reprs and str() of the loaded object hide every value
    shown = repr(secrets) + str(secrets) + repr(values)
    assert not any(p in shown for p in plain)


def test_later_accounts_are_added_and_existing_secrets_never_change(tmp_path):
    path = tmp_path / "accounts.json"
    first = ensure_secrets(path, mqtt=["dev-0001"])
    second = ensure_secrets(path, mqtt=["dev-0001", "sim-0000"], kafka=["admin"])
    again = load_secrets(path)
    assert second.password("mqtt", "dev-0001") == first.password("mqtt", "dev-0001")
    assert again.names("mqtt") == ["dev-0001", "sim-0000"] and again.names("kafka") == ["admin"]
    assert again.password("kafka", "admin") == second.password("kafka", "admin")


def test_missing_file_or_account_says_how_to_create_it(tmp_path):
    with pytest.raises(ConfigError, match="fleet stack up"):
        load_secrets(tmp_path / "accounts.json")
    secrets = ensure_secrets(tmp_path / "accounts.json", mqtt=["a"])
    with pytest.raises(ConfigError, match="no mqtt secret for account 'b'"):
        secrets.password("mqtt", "b")


def test_a_secrets_file_others_can_read_is_refused(tmp_path):
    path = tmp_path / "accounts.json"
    ensure_secrets(path, mqtt=["a"])
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="readable or writable by others"):
        load_secrets(path)


def test_private_files_are_never_world_readable_and_create_never_overwrites(tmp_path):
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o755)
    assert create_private(folder / "k", b"one") is True
    assert _mode(folder) == 0o700 and _mode(folder / "k") == 0o600
    assert create_private(folder / "k", b"two") is False
    assert read_private(folder / "k") == b"one"
    write_private(folder / "k", b"three")
    assert read_private(folder / "k") == b"three" and _mode(folder / "k") == 0o600
    assert [p.name for p in folder.iterdir()] == ["k"]  # no temporary file left


def test_a_link_planted_at_a_secret_path_is_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    link = tmp_path / "keys" / "k"
    link.parent.mkdir(mode=0o700)
    os.symlink(target, link)
    assert create_private(link, b"secret") is False
    write_private(link, b"secret")  # replaces the link itself, never writes through it
    assert target.read_bytes() == b"" and not link.is_symlink()
