"""The fleet simulator: 200 devices with their own accounts in one process, real C engine."""

from __future__ import annotations

import pytest

from contract.schemas import parse_prediction
from edge_agent.errors import EdgeError
from edge_agent.simulator import Fleet, SimSettings, synthetic_texts
from services.devices.cli import sim_devices

from .conftest import golden_blob

pytestmark = pytest.mark.integration


def test_settings_need_a_stop_condition():
    with pytest.raises(EdgeError, match="--duration or --count"):
        SimSettings(devices=1, rate=1, phase=0)
    with pytest.raises(EdgeError, match="phase"):
        SimSettings(devices=1, rate=1, phase=3, count=1)


def test_two_hundred_devices_publish_valid_predictions(stack, keys, mqtt_client_factory):
    accounts = [d for d in stack.registry.devices if d.id.startswith("sim-")][:200]
    assert len(accounts) == 200, "the registry must list 200 simulated devices"
    monitor = mqtt_client_factory(stack.service("monitor"))
    monitor.subscribe("fleet/+/pred")
    fleet = Fleet(sim_devices(stack.access, accounts), keys.public_raw, golden_blob(), 1)
    reports = []
    try:
        fleet.start()
        assert fleet.connected() == 200
        final = fleet.run(
            SimSettings(devices=200, rate=400, phase=2, count=400),
            synthetic_texts(phase=2, seed=1, n=100),
            reports.append,
        )
    finally:
        fleet.close()
    assert (final.sent, final.published, final.dropped) == (400, 400, 0)
    assert reports[-1] == final
    sessions = {f"{a.settings.device_id}-{a.session}-" for a in fleet.agents}
    events = []  # ours only: a demo may run simulated devices on the same broker
    while len(events) < 400 and (msg := monitor.receive(timeout_s=10)) is not None:
        if msg.topic.startswith("fleet/sim-"):
            event = parse_prediction(msg.payload)
            if event.message_id.rsplit("-", 1)[0] + "-" in sessions:
                events.append(event)
    assert len({e.message_id for e in events}) == 400
    assert len({e.device_id for e in events}) == 200
    assert all(e.topk[0].label == e.label and e.model_version == 1 for e in events)


def test_provision_sets_the_simulated_count_in_the_registry(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from services.cli import build_app
    from services.security.secrets import load_secrets
    from services.settings import REPO_ROOT
    from services.stack.registry import load_registry

    registry = tmp_path / "registry.toml"
    registry.write_text((REPO_ROOT / "deploy" / "fleet-registry.toml").read_text())
    monkeypatch.setenv("FLEET_STACK__REGISTRY", str(registry))
    monkeypatch.setenv("FLEET_STACK__DATA_DIR", str(tmp_path / "var"))  # no broker running
    result = CliRunner().invoke(build_app(), ["devices", "provision", "--count", "7"])
    assert result.exit_code == 0, result.output
    loaded = load_registry(registry)
    sims = [d for d in loaded.devices if d.id.startswith("sim-")]
    assert [d.id for d in sims] == [f"sim-{i:04d}" for i in range(7)]
    assert {d.group for d in sims} == {"fleet"}
    # each new device got its own secret in the stack's secrets file, not in the registry
    secrets = load_secrets(tmp_path / "var" / "secrets" / "accounts.json")
    assert len({secrets.password("mqtt", d.id).get_secret_value() for d in sims}) == 7
    assert "password =" not in registry.read_text()
