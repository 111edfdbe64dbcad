"""``fleet device run`` / ``fleet devices sim`` only read the trusted key: a device never
creates a signing key pair."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from services.cli import build_app


@pytest.mark.parametrize(
    "args",
    [
        ["device", "run", "dev-0001", "--count", "1"],
        ["devices", "sim", "--devices", "1", "--count", "1"],
    ],
)
def test_a_device_without_a_trusted_key_creates_none(tmp_path, monkeypatch, args):
    monkeypatch.setenv("FLEET_STACK__DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code != 0
    assert "no trusted release key" in result.output
    assert not (tmp_path / "var" / "keys").exists()  # neither release.key nor release.pub


def test_a_device_reads_the_public_key_it_is_given(tmp_path, monkeypatch):
    from edge_agent.errors import EdgeError
    from services.devices.cli import trusted_key
    from services.releases.keys import load_or_create_key, public_bytes
    from services.settings import load_settings

    key = load_or_create_key(tmp_path / "keys")
    settings = load_settings(None)
    assert trusted_key(settings, tmp_path / "keys" / "release.pub") == public_bytes(key)
    (tmp_path / "junk.pub").write_bytes(b"not a key")
    with pytest.raises(EdgeError, match="neither a raw 32-byte"):
        trusted_key(settings, tmp_path / "junk.pub")
