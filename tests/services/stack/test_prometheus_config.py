"""The committed Prometheus config is the rendering of the defaults and promtool accepts it."""

from __future__ import annotations

import shutil
import subprocess

from services.settings import FleetSettings
from services.stack.prometheus import default_config, render_config


def test_committed_config_is_current():
    path = FleetSettings.model_construct().stack.prometheus_config
    assert path.read_text() == default_config(), (
        "deploy/prometheus/prometheus.yml is stale: run "
        "python -c 'from services.stack.prometheus import write_default_config as w; w()'"
    )


def test_every_service_metrics_port_is_scraped():
    settings = FleetSettings.model_construct()
    text = default_config()
    for service, port in settings.metrics_ports.by_service().items():
        assert f"job_name: {service}" in text
        assert f'"127.0.0.1:{port}"' in text


def test_promtool_accepts_the_rendered_config(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make setup` installs Debian's prometheus"
    (tmp_path / "rules").mkdir()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        render_config(FleetSettings.model_construct(), "targets/*.json", "rules/*.yml")
    )
    result = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
