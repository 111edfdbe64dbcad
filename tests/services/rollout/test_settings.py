"""Rollout settings: defaults from the fleet settings and registry, environment overrides."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from services.rollout.service import default_stages, settings_from_fleet
from services.rollout.settings import RolloutSettings, StageSpec
from services.security.access import Access
from services.security.secrets import ensure_secrets
from services.settings import load_settings


def test_defaults_come_from_the_fleet_settings_and_registry(monkeypatch, tmp_path):
    monkeypatch.delenv("FLEET_ROLLOUT_STAGES", raising=False)
    monkeypatch.delenv("FLEET_SECURITY__KAFKA_ACCOUNT", raising=False)
    fleet = load_settings(None, stack={"data_dir": str(tmp_path)})
    secrets = ensure_secrets(fleet.secrets_file, mqtt=["rollout"], kafka=["rollout"])
    access = Access(fleet)
    registry = access.registry
    settings = settings_from_fleet(access)
    assert settings.mqtt is not None and settings.mqtt.username == "rollout"
    assert settings.mqtt.password == secrets.password("mqtt", "rollout")
    assert settings.mqtt.port == fleet.stack.mosquitto.service_port
    assert settings.kafka is not None and settings.kafka.username == "rollout"
    assert settings.kafka.password == secrets.password("kafka", "rollout")
    plain = secrets.password("mqtt", "rollout").get_secret_value()
    assert "*****" in repr(settings) and plain not in repr(settings)
    assert settings.stages[0].group == "canary"
    assert {s.group for s in settings.stages} == set(registry.groups)
    assert settings.metrics_port == 19105 and settings.release_root == fleet.data_dir / "releases"


def test_canary_goes_first_whatever_the_registry_order():
    assert [s.group for s in default_stages(["fleet", "beta", "canary"])] == [
        "canary", "fleet", "beta",
    ]  # fmt: skip


def test_environment_overrides_the_stage_order(monkeypatch):
    monkeypatch.setenv("FLEET_ROLLOUT_STAGES", '[{"group": "canary", "bake_s": 1}]')
    monkeypatch.setenv("FLEET_ROLLOUT_AUTO_START", "false")
    settings = RolloutSettings(stages=default_stages(["canary", "fleet"]))
    assert [s.group for s in settings.stages] == ["canary"] and settings.stages[0].bake_s == 1
    assert settings.auto_start is False
    with pytest.raises(ConfigError, match="valid groups"):
        settings.stage("fleet")


def test_stages_must_name_distinct_groups():
    with pytest.raises(ValueError, match="distinct"):
        RolloutSettings(stages=(StageSpec(group="canary"), StageSpec(group="canary")))
