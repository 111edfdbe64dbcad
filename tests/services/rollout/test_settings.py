"""Rollout settings: defaults from the fleet settings and registry, environment overrides."""

from __future__ import annotations

import pytest

from services.errors import ConfigError
from services.rollout.main import default_stages, settings_from_fleet
from services.rollout.settings import RolloutSettings, StageSpec
from services.settings import load_settings
from services.stack.registry import load_registry


def test_defaults_come_from_the_fleet_settings_and_registry(monkeypatch):
    monkeypatch.delenv("FLEET_ROLLOUT_STAGES", raising=False)
    fleet = load_settings(None)
    registry = load_registry(fleet.stack.registry)
    settings = settings_from_fleet(fleet, registry)
    assert settings.mqtt_password == registry.service("rollout").password
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
