"""Debian's Prometheus scraping every service's metrics port plus file_sd "extra" targets.

``deploy/prometheus/prometheus.yml`` is the rendering for the default settings (a test keeps
it current); ``fleet stack up`` renders the same config for the actual settings under
``var/prometheus/`` with absolute paths. Extra targets (tests, the demo, one-off
exporters) are JSON files dropped into ``var/prometheus/targets/``; Prometheus picks them up
without a restart (file_sd watches the folder).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path

from services.errors import StackError
from services.settings import FleetSettings
from services.stack.component import Component


def render_config(settings: FleetSettings, targets_glob: str, rules_glob: str) -> str:
    """prometheus.yml for ``settings``; paths are written as given (relative to the file)."""
    p = settings.stack.prometheus
    host = settings.stack.host
    lines = [
        "# Scrape config of the local stack. `fleet stack up` renders this for the actual",
        "# settings into var/prometheus/prometheus.yml (services/stack/prometheus.py);",
        "# this copy is the rendering for the default settings.",
        "global:",
        f"  scrape_interval: {p.scrape_interval_s}s",
        f"  evaluation_interval: {p.scrape_interval_s}s",
        "  external_labels:",
        "    stack: fleet-local",
        "",
        "rule_files:",
        f"  - {json.dumps(rules_glob)}",
        "",
        "alerting:",
        "  alertmanagers:",
        "    - static_configs:",
        f"        - targets: [{json.dumps(f'{host}:{settings.stack.alertmanager.port}')}]",
        "",
        "scrape_configs:",
        "  - job_name: prometheus",
        "    static_configs:",
        f"      - targets: [{json.dumps(f'{host}:{p.port}')}]",
    ]
    for service, port in settings.metrics_ports.by_service().items():
        lines += [
            f"  - job_name: {service}",
            "    static_configs:",
            f"      - targets: [{json.dumps(f'{host}:{port}')}]",
            "        labels:",
            f"          service: {service}",
        ]
    lines += [
        "  # Anything else: JSON file_sd files, e.g.",
        '  # [{"targets": ["127.0.0.1:9000"], "labels": {"job": "simulator"}}]',
        "  - job_name: extra",
        f"    scrape_interval: {p.extra_scrape_interval_s}s",
        "    file_sd_configs:",
        f"      - files: [{json.dumps(targets_glob)}]",
        "        refresh_interval: 5s",
        "",
    ]
    return "\n".join(lines)


class Prometheus(Component):
    name = "prometheus"

    @property
    def start_timeout_s(self) -> float:
        return self.settings.stack.prometheus.start_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.settings.stack.prometheus.port}"

    @property
    def targets_dir(self) -> Path:
        return self.run_dir / "targets"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "prometheus.yml"

    def ports(self) -> dict[str, int]:
        return {"http": self.settings.stack.prometheus.port}

    def _binary(self) -> str:
        name = self.settings.stack.prometheus.binary
        found = shutil.which(name)
        if found is None:
            raise StackError(f"{name} not found; run `make setup` (installs Debian's prometheus)")
        return found

    def version(self) -> str:
        return _version(self._binary())

    def write_config(self) -> None:
        self.targets_dir.mkdir(parents=True, exist_ok=True)
        rules = self.settings.stack.prometheus_rules_dir / "*.yml"
        text = render_config(self.settings, str(self.targets_dir / "*.json"), str(rules))
        tmp = self.config_file.with_suffix(".new")
        tmp.write_text(text)
        tmp.replace(self.config_file)

    def prepare(self) -> None:
        (self.run_dir / "data").mkdir(parents=True, exist_ok=True)
        self.write_config()

    def argv(self) -> list[str]:
        p = self.settings.stack.prometheus
        return [
            self._binary(),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.run_dir / 'data'}",
            f"--storage.tsdb.retention.time={p.retention}",
            f"--web.listen-address={self.host}:{p.port}",
            "--web.enable-lifecycle",  # POST /-/reload after the config changes
            "--log.level=warn",
        ]

    def probe(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def refresh(self) -> None:
        self.write_config()
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError) as exc:
            raise StackError(f"Prometheus at {self.url} refused the reload: {exc}") from exc


@cache
def _version(binary: str) -> str:
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    match = re.search(r"prometheus, version (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"


DEPLOY_CONFIG_TARGETS = "targets/*.json"  # relative to deploy/prometheus/
DEPLOY_CONFIG_RULES = "rules/*.yml"


def default_config() -> str:
    """The committed ``deploy/prometheus/prometheus.yml``: defaults, paths relative to it."""
    defaults = FleetSettings.model_construct()  # pure defaults: no file, no environment
    return render_config(defaults, DEPLOY_CONFIG_TARGETS, DEPLOY_CONFIG_RULES)


def write_default_config() -> Path:
    """Refresh the committed file after changing :func:`render_config` or the defaults."""
    target = FleetSettings.model_construct().stack.prometheus_config
    target.write_text(default_config())
    return target
