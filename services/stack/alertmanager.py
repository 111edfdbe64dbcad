"""Debian's Alertmanager: receives the alerts Prometheus' rules fire, groups them, applies
silences, and sends each group to the control API's webhook (``POST /api/v1/alerts`` with
the ``alerts`` bearer token from ``<data_dir>/keys/alerts.token``).

``deploy/alertmanager/alertmanager.yml`` is the rendering for the default settings (a test
keeps it current); ``fleet stack up`` renders the same config for the actual settings under
``var/alertmanager/``. Clustering is off (``--cluster.listen-address=``): one local instance.
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
from services.settings import REPO_ROOT, FleetSettings
from services.stack.component import Component

GROUP_BY = ("alertname", "model_version")  # one notification per alert and release
RECEIVER = "control-api"


def render_config(settings: FleetSettings, credentials_file: str) -> str:
    a = settings.stack.alertmanager
    url = f"http://{settings.stack.host}:{settings.metrics_ports.control}/api/v1/alerts"
    return "\n".join(
        [
            "# Alertmanager of the local stack. `fleet stack up` renders this for the actual",
            "# settings into var/alertmanager/alertmanager.yml (services/stack/alertmanager.py);",
            "# this copy is the rendering for the default settings.",
            "route:",
            f"  receiver: {RECEIVER}",
            f"  group_by: [{', '.join(GROUP_BY)}]",
            f"  group_wait: {a.group_wait_s}s",
            f"  group_interval: {a.group_interval_s}s",
            f"  repeat_interval: {a.repeat_interval}",
            "receivers:",
            f"  - name: {RECEIVER}",
            "    webhook_configs:",
            f"      - url: {json.dumps(url)}",
            "        send_resolved: true",
            "        max_alerts: 100",
            "        http_config:",
            "          authorization:",
            "            type: Bearer",
            f"            credentials_file: {json.dumps(credentials_file)}",
            "",
        ]
    )


class Alertmanager(Component):
    name = "alertmanager"

    @property
    def start_timeout_s(self) -> float:
        return self.settings.stack.alertmanager.start_timeout_s

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.settings.stack.alertmanager.port}"

    @property
    def config_file(self) -> Path:
        return self.run_dir / "alertmanager.yml"

    @property
    def token_file(self) -> Path:
        return self.settings.stack.data_dir / "keys" / "alerts.token"

    def ports(self) -> dict[str, int]:
        return {"http": self.settings.stack.alertmanager.port}

    def _binary(self) -> str:
        name = self.settings.stack.alertmanager.binary
        found = shutil.which(name)
        if found is None:
            raise StackError(
                f"{name} not found; run `make setup` (installs Debian's prometheus-alertmanager)"
            )
        return found

    def version(self) -> str:
        return _version(self._binary())

    def write_config(self) -> None:
        from services.control.auth import load_or_create_token

        load_or_create_token(self.token_file)  # the control API reads the same file
        tmp = self.config_file.with_suffix(".new")
        tmp.write_text(render_config(self.settings, str(self.token_file)))
        tmp.replace(self.config_file)

    def prepare(self) -> None:
        (self.run_dir / "data").mkdir(parents=True, exist_ok=True)
        self.write_config()

    def argv(self) -> list[str]:
        a = self.settings.stack.alertmanager
        return [
            self._binary(),
            f"--config.file={self.config_file}",
            f"--storage.path={self.run_dir / 'data'}",
            f"--web.listen-address={self.host}:{a.port}",
            f"--web.external-url={self.url}",
            "--cluster.listen-address=",  # no gossip port: one local instance
            f"--data.retention={a.retention}",
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
            raise StackError(f"Alertmanager at {self.url} refused the reload: {exc}") from exc


@cache
def _version(binary: str) -> str:
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    match = re.search(r"alertmanager, version (\S+)", result.stdout + result.stderr)
    return match.group(1) if match else "?"


DEPLOY_CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
DEPLOY_TOKEN = "../../var/keys/alerts.token"  # relative to the committed file


def default_config() -> str:
    """The committed ``deploy/alertmanager/alertmanager.yml``: defaults."""
    return render_config(FleetSettings.model_construct(), DEPLOY_TOKEN)
