"""Settings: TOML plus FLEET_* environment, frozen, relative paths resolved, clear errors."""

from __future__ import annotations

import pydantic
import pytest

from models.errors import ConfigError
from services.settings import REPO_ROOT, load_settings


@pytest.fixture
def clean_env(monkeypatch):
    import os

    for key in list(os.environ):
        if key.startswith("FLEET_"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_defaults_use_non_default_daemon_ports(clean_env, tmp_path):
    clean_env.chdir(tmp_path)  # no fleet.toml here
    settings = load_settings()
    assert settings.stack.kafka.port == 19092
    assert settings.stack.kafka.controller_port == 19093
    assert settings.stack.mosquitto.port == 18830
    assert settings.stack.prometheus.port == 19090
    assert settings.stack.data_dir == tmp_path / "var"
    assert settings.topics.predictions.partitions >= 6
    assert settings.topics.releases.compacted


def test_toml_then_environment_override_nested(clean_env, tmp_path):
    config = tmp_path / "conf" / "fleet.toml"
    config.parent.mkdir()
    config.write_text(
        '[stack]\ndata_dir = "state"\n[stack.kafka]\nport = 1111\nheap_max_mb = 700\n'
    )
    clean_env.setenv("FLEET_STACK__KAFKA__PORT", "2222")
    settings = load_settings(config)
    assert settings.stack.kafka.port == 2222  # environment wins over the file
    assert settings.stack.kafka.heap_max_mb == 700  # the rest of the section stays
    assert settings.stack.data_dir == config.parent / "state"  # relative to the file
    assert settings.kafka_bootstrap == "127.0.0.1:2222"


def test_repo_example_is_valid(clean_env):
    settings = load_settings(REPO_ROOT / "fleet.toml")
    assert settings.stack.registry.is_file()


def test_settings_are_frozen(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    settings = load_settings()
    with pytest.raises(pydantic.ValidationError):
        settings.stack.kafka.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[stack.kafka]\nheap_max_mb = 4096\n", "stack.kafka.heap_max_mb"),
        ("[stack]\ncolour = 1\n", "stack.colour"),
        ("[stack\n", "not valid TOML"),
    ],
)
def test_bad_settings_name_the_field(clean_env, tmp_path, text, fragment):
    config = tmp_path / "fleet.toml"
    config.write_text(text)
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_settings(config)


def test_bad_environment_value_is_a_config_error(clean_env, tmp_path):
    clean_env.chdir(tmp_path)
    clean_env.setenv("FLEET_STACK__MOSQUITTO__PORT", "many")
    with pytest.raises(ConfigError, match=r"mosquitto\.port"):
        load_settings()


@pytest.mark.parametrize(
    ("module", "cls", "prefix"),
    [
        ("services.labeler.settings", "LabelerSettings", "FLEET_LABELER_"),
        ("services.processor.settings", "ProcessorSettings", "FLEET_PROCESSOR_"),
    ],
)
def test_service_settings_take_main_values_but_the_environment_wins(clean_env, module, cls, prefix):
    import importlib

    from services.security.kafka import KafkaAccess

    settings_cls = getattr(importlib.import_module(module), cls)
    kafka = KafkaAccess(bootstrap="10.0.0.1:9092", username="u", password="not-shown-42")
    assert settings_cls(kafka=kafka).kafka == kafka
    clean_env.setenv(f"{prefix}METRICS_PORT", "0")
    settings = settings_cls(kafka=kafka, metrics_port=1234)
    assert (settings.kafka, settings.metrics_port) == (kafka, 0)
    assert "not-shown-42" not in repr(settings) + str(settings.kafka)  # the secret is not shown
    with pytest.raises(pydantic.ValidationError):
        settings.kafka = None  # frozen
