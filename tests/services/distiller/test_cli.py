"""``fleet distiller seed`` and the settings the commands read from the environment."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from contract.signing import verify
from services.cli import build_app
from services.distiller.cli import load
from services.distiller.settings import DistillerSettings
from services.releases.store import ReleaseStore
from services.security.secrets import ensure_secrets
from services.settings import load_settings
from tests.services.distiller.factories import examples, tiny_student_dir


def test_seed_stores_signed_releases_one_after_another(tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_DISTILLER_RELEASE_ROOT", str(tmp_path / "releases"))
    monkeypatch.setenv("FLEET_DISTILLER_KEYS_DIR", str(tmp_path / "keys"))
    profile = tmp_path / "valid.jsonl"
    profile.write_text(
        "".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in examples(0, "valid"))
    )
    student = tiny_student_dir(tmp_path)
    args = ["distiller", "seed", "--student", str(student), "--profile-data", str(profile),
            "--no-publish"]  # fmt: skip
    for expected in (1, 2):
        result = CliRunner().invoke(build_app(), args)
        assert result.exit_code == 0, result.output
        assert f"release {expected} stored" in result.output
    store = ReleaseStore(tmp_path / "releases")
    assert store.versions() == [1, 2]
    verify(store.manifest(2), (tmp_path / "keys" / "release.pub").read_bytes())
    assert store.student_dir(2) is not None


def test_settings_come_from_the_fleet_settings_and_the_environment(monkeypatch, tmp_path):
    with pytest.raises(ValidationError):
        DistillerSettings(drift_source="alertmanager")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        DistillerSettings(no_such_field=1)  # type: ignore[call-arg]
    monkeypatch.setenv("FLEET_DISTILLER_MAX_STEPS", "7")
    monkeypatch.setenv("FLEET_DISTILLER_DRIFT_SOURCE", "off")
    monkeypatch.setenv("FLEET_STACK__DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FLEET_SECURITY__KAFKA_ACCOUNT", raising=False)
    ensure_secrets(tmp_path / "secrets" / "accounts.json", kafka=["distiller"])
    s = load(None)
    assert s.max_steps == 7 and s.drift_source == "off"
    assert s.kafka is not None and s.kafka.username == "distiller"  # its own Kafka account
    assert s.release_root == tmp_path / "releases" and s.keys_dir == tmp_path / "keys"
    assert s.metrics_port == load_settings(None).metrics_ports.distiller
