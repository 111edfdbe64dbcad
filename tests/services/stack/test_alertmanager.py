"""Alertmanager in the stack: its committed config is current and valid, and a real alert
fired by a Prometheus rule travels Prometheus -> Alertmanager (grouped, silences applied)
-> the control API's webhook, which shows it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest

from benchmarks.harness.service_process import free_port
from services.control.auth import load_or_create_token
from services.stack.alertmanager import DEPLOY_CONFIG, default_config
from tests.services.control.harness import control_process, http

RULES = """\
groups:
  - name: test
    rules:
      - alert: FleetTestFiring
        expr: vector(1)
        labels: {severity: warning, model_version: "42"}
        annotations: {summary: "a test alert on v42"}
      - alert: FleetTestGrouped
        expr: >-
          label_replace(vector(1), "shard", "a", "", "")
          or label_replace(vector(1), "shard", "b", "", "")
        labels: {severity: info, model_version: "42"}
      - alert: FleetTestSilenced
        expr: vector(1)
        labels: {severity: critical}
"""


def test_committed_config_is_current_and_amtool_accepts_it(tmp_path) -> None:
    assert DEPLOY_CONFIG.read_text() == default_config(), (
        "deploy/alertmanager/alertmanager.yml is stale: run python -c 'from "
        "services.stack.alertmanager import DEPLOY_CONFIG as p, default_config as c; "
        "p.write_text(c())'"
    )
    amtool = shutil.which("amtool")
    assert amtool, "amtool missing: `make setup` installs Debian's prometheus-alertmanager"
    token = tmp_path / "alerts.token"
    token.write_text("x\n")
    config = tmp_path / "alertmanager.yml"
    config.write_text(default_config().replace("../../var/keys/alerts.token", str(token)))
    result = subprocess.run(
        [amtool, "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _silence(url: str, alertname: str) -> str:
    now = datetime.now(UTC)
    body = {
        "matchers": [{"name": "alertname", "value": alertname, "isRegex": False}],
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
        "createdBy": "tests",
        "comment": "silence test",
    }
    request = urllib.request.Request(
        f"{url}/api/v2/silences",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["silenceID"]


def _manager_alerts(url: str) -> dict[str, str]:
    with urllib.request.urlopen(f"{url}/api/v2/alerts", timeout=10) as response:
        return {a["labels"]["alertname"]: a["status"]["state"] for a in json.load(response)}


@pytest.mark.integration
def test_a_rule_fires_through_alertmanager_to_the_control_api(
    stack, private_stack_factory, tmp_path
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    control_port = free_port()
    # Alertmanager first: the silence must exist before Prometheus sends anything.
    private = private_stack_factory(
        ("alertmanager",),
        rules_dir=rules,
        alertmanager={"group_wait_s": 1, "group_interval_s": 2},
        metrics_ports={"control": control_port},
    )
    keys = private.settings.stack.data_dir / "keys"
    manager = private.alertmanager.url
    _silence(manager, "FleetTestSilenced")
    proc = control_process(
        tmp_path,
        port=control_port,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",  # no Kafka needed to receive alerts
        alerts_token_file=keys / "alerts.token",
        read_token_file=tmp_path / "keys" / "read.token",
        prometheus_url=private.prometheus.url,
    ).start()
    try:
        proc.wait_for(lambda: bool(proc.metrics()), "the control API to serve")
        read = load_or_create_token(tmp_path / "keys" / "read.token")
        (rules / "test.yml").write_text(RULES)
        private.up(["prometheus"])

        def received() -> dict[str, list[dict]]:
            status, body = http(control_port, "GET", "/api/v1/alerts", token=read)
            assert status == 200, body
            out: dict[str, list[dict]] = {}
            for alert in body["alerts"]:
                out.setdefault(alert["name"], []).append(alert)
            return out

        deadline = time.monotonic() + 120
        got: dict[str, list[dict]] = {}
        while time.monotonic() < deadline:
            got = received()
            states = _manager_alerts(manager)
            if (
                "FleetTestFiring" in got
                and len(got.get("FleetTestGrouped", [])) == 2
                and states.get("FleetTestSilenced") == "suppressed"
            ):
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"alerts did not arrive: control {got}, alertmanager {states}")
        (firing,) = got["FleetTestFiring"]
        assert firing["state"] == "firing" and firing["severity"] == "warning"
        assert firing["labels"]["model_version"] == "42"
        assert firing["summary"] == "a test alert on v42"
        # grouping by alertname and model_version: both shards came in one group
        assert len({a["group_key"] for a in got["FleetTestGrouped"]}) == 1
        assert {a["labels"]["shard"] for a in got["FleetTestGrouped"]} == {"a", "b"}
        # the silenced alert reached Alertmanager, which did not send it on
        assert "FleetTestSilenced" not in received()
        assert proc.value("fleet_control_alert_messages_total", outcome="accepted") >= 2
        assert not proc.value("fleet_control_alert_messages_total", outcome="unauthorized")
    finally:
        assert proc.stop() == 0, proc.tail()
