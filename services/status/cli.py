"""``fleet status [--json]``: the stack's components, the fleet, drift, labeling, the
distiller, the rollout and the alerts on one screen. Each part comes from its own source
(local pid files and probes, Prometheus, Kafka ``model.rollouts``, the control API's alerts,
else Alertmanager's); a part whose source cannot be reached says so, the rest still shows.
Exit code 0 when every source answered, 1 otherwise."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated, Any

import typer

from contract.errors import ValidationError
from models.errors import ConfigError
from services.errors import ServiceError

READ_TOKEN_ENV = "FLEET_READ_TOKEN"
TIMEOUT_S = 5.0


def _get_json(url: str, token: str | None = None) -> Any:
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise ServiceError(f"{url} answered HTTP {exc.code}") from exc
    except (OSError, ValueError) as exc:
        raise ServiceError(f"{url} cannot be reached: {getattr(exc, 'reason', exc)}") from exc


def alerts_source(settings: Any, token: str | None) -> tuple[str, Any]:
    """(source name, reader): the control API's webhook store when it answers, else the
    active alerts of Alertmanager itself."""
    control = f"http://{settings.stack.host}:{settings.metrics_ports.control}/api/v1/alerts"
    manager = f"http://{settings.stack.host}:{settings.stack.alertmanager.port}/api/v2/alerts"

    def from_control() -> list[dict[str, Any]]:
        return list(_get_json(control, token)["alerts"])

    def from_alertmanager() -> list[dict[str, Any]]:
        return [
            {
                "name": a["labels"].get("alertname", "?"),
                "state": "firing" if a["status"]["state"] == "active" else a["status"]["state"],
                "severity": a["labels"].get("severity", ""),
                "summary": a.get("annotations", {}).get("summary", ""),
                "labels": a["labels"],
                "starts_at": a.get("startsAt", ""),
                "ends_at": "",
                "fingerprint": a.get("fingerprint", ""),
            }
            for a in _get_json(manager)
        ]

    def read() -> list[dict[str, Any]]:
        try:
            return from_control()
        except ServiceError as first:
            try:
                return from_alertmanager()
            except ServiceError as second:
                raise ServiceError(f"{first}; {second}") from second

    return "control API webhook, else Alertmanager", read


def _read_token(settings: Any) -> str | None:
    from services.control.auth import TokenError, read_token

    if os.environ.get(READ_TOKEN_ENV):
        return os.environ[READ_TOKEN_ENV]
    try:
        return read_token(settings.data_dir / "keys" / "read.token")
    except TokenError:
        return None


def gather(settings: Any) -> Any:  # -> StatusReport
    from contract.schemas.rollout import parse_rollout_record
    from contract.topics import TOPIC_NAMES
    from services.promql import Prometheus
    from services.security.access import Access
    from services.stack import Stack
    from services.stack.process import port_open
    from services.status.report import collect
    from services.topic_reader import read_to_end

    def rollouts() -> list[Any]:
        host, port = settings.stack.host, settings.stack.kafka.port
        if not port_open(host, port):  # (kafka-python would retry its bootstrap for a while)
            raise ServiceError(f"cannot reach Kafka at {host}:{port}: nothing listens there")
        records = []
        topic = TOPIC_NAMES["rollouts"]
        monitor = Access(settings).kafka_for("monitor")  # read-only
        for record in read_to_end(monitor, topic, timeout_s=TIMEOUT_S):
            try:
                records.append(parse_rollout_record(record.value))
            except ValidationError:
                continue  # not the manager's; it dead-letters nothing here, so skip it
        return records

    source, alerts = alerts_source(settings, _read_token(settings))
    return collect(
        components=Stack(settings).status,
        prometheus=Prometheus(settings.prometheus_url, timeout_s=TIMEOUT_S),
        rollouts=rollouts,
        alerts=alerts,
        alerts_source=source,
    )


def register(app: typer.Typer) -> None:
    @app.command("status")
    def status(
        as_json: Annotated[bool, typer.Option("--json", help="Print the facts as JSON")] = False,
        config: Annotated[Path | None, typer.Option(help="fleet.toml")] = None,
    ) -> None:
        """The fleet at a glance: stack, devices by release, drift, labeling, distiller,
        rollout, alerts."""
        from rich.console import Console

        from services.settings import load_settings
        from services.status.render import render

        try:
            report = gather(load_settings(config))
        except (ServiceError, ConfigError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc
        if as_json:
            typer.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=1))
        else:
            render(report, Console())
        raise typer.Exit(1 if report.errors() else 0)
