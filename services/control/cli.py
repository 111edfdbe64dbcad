"""``fleet control run`` (the API and page) and ``fleet ops redistill|rollout|halt|rollback``.

``fleet ops`` goes through the API rather than straight to Kafka: every command then passes
the same token check, validation, id assignment and metrics as the page's, and ops need to
reach only the API's port, not the brokers. The token comes from ``--token``,
``$FLEET_OPS_TOKEN`` or, on the API's machine, its token file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from services.control.settings import ControlSettings

if TYPE_CHECKING:
    from services.control.client import ControlClient

Opt = typer.Option
TOKEN_ENV = "FLEET_OPS_TOKEN"

ConfigOpt = Annotated[Path | None, Opt(help="fleet.toml (default: $FLEET_CONFIG)")]
UrlOpt = Annotated[str | None, Opt(help="Control API (default: http://<host>:<port>)")]
TokenOpt = Annotated[
    str | None, Opt(help=f"Ops token (default: ${TOKEN_ENV}, else the API's token file)")
]
OperatorOpt = Annotated[str | None, Opt(help="Recorded as issued_by ops:<operator>")]
ReasonOpt = Annotated[str, Opt(help="Why (kept with the command)")]
GroupsOpt = Annotated[list[str] | None, Opt("--group", help="Device group (repeatable)")]


def control_settings(config: Path | None) -> ControlSettings:
    """The control settings derived from the fleet settings; ``FLEET_CONTROL_*`` wins."""
    from services.security.access import Access
    from services.settings import load_settings

    fleet = load_settings(config)
    keys = fleet.data_dir / "keys"
    return ControlSettings(
        host=fleet.stack.host,
        port=fleet.metrics_ports.control,
        kafka=Access(fleet).kafka_for("control"),
        releases_dir=fleet.data_dir / "releases",
        token_file=keys / "ops.token",
        read_token_file=keys / "read.token",
        alerts_token_file=keys / "alerts.token",
        release_public_key=keys / "release.pub",
        prometheus_url=fleet.prometheus_url,
    )


def main(config: Path | None = None) -> None:
    import functools
    import logging

    from aiohttp import web

    from services.control.alerts import AlertBook
    from services.control.auth import Tokens, load_or_create_token
    from services.control.metrics import ControlMetrics
    from services.control.releases import KafkaReleaseFeed
    from services.control.service import Control, create_app
    from services.control.sessions import Sessions
    from services.control.sink import CommandSinkError, KafkaCommandSink
    from services.promql import Prometheus
    from services.releases.store import ReleaseStore
    from services.security.kafka import required
    from services.settings import load_settings
    from services.stack import Stack
    from services.topic_reader import TopicReader

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = control_settings(config)
    key = settings.release_public_key
    kafka = required(settings.kafka, "the control API")
    reader = TopicReader(  # one consumer for every page and read endpoint
        kafka, settings.read_timeout_s, CommandSinkError, "fleet-control-reader"
    )
    stack = Stack(load_settings(config))
    control = Control(
        sink=KafkaCommandSink(kafka, settings.commands_topic, settings.ack_timeout_s, reader),
        feed=KafkaReleaseFeed(reader, settings.releases_topic, settings.rollouts_topic),
        store=ReleaseStore(settings.releases_dir),
        tokens=Tokens(
            ops=load_or_create_token(settings.token_file),
            read=load_or_create_token(settings.read_token_file),
            alerts=load_or_create_token(settings.alerts_token_file),
        ),
        metrics=ControlMetrics.create(),
        recent_limit=settings.recent_limit,
        public_key=key.read_bytes() if key.is_file() else None,
        prometheus=Prometheus(settings.prometheus_url, timeout_s=5.0),
        components=functools.partial(stack.status, deep=False),  # no Kafka client per page
        alerts=AlertBook(settings.alerts_kept),
        sessions=Sessions(settings.session_ttl_s),
    )
    logging.getLogger(__name__).info(
        "control API on http://%s:%d (tokens in %s)",
        settings.host,
        settings.port,
        settings.token_file.parent,
    )
    web.run_app(create_app(control), host=settings.host, port=settings.port, print=None)


def _client(
    config: Path | None, url: str | None, token: str | None, operator: str | None
) -> ControlClient:
    import getpass

    from services.control.auth import TokenError, read_token
    from services.control.client import ControlClient

    settings = control_settings(config)
    token = token or os.environ.get(TOKEN_ENV)
    if not token:
        try:
            token = read_token(settings.token_file)
        except TokenError as exc:
            raise _fail(f"{exc}; pass --token or set ${TOKEN_ENV}") from exc
    if operator is None:
        try:
            operator = getpass.getuser()
        except (KeyError, OSError):
            operator = None
    return ControlClient(url or f"http://{settings.host}:{settings.port}", token, operator)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _send(client: Any, command: str, arguments: dict[str, Any]) -> None:
    from services.control.client import ControlClientError

    try:
        answer = client.send(command, {k: v for k, v in arguments.items() if v not in (None, [])})
    except ControlClientError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(answer["command"], ensure_ascii=False))


def register(app: typer.Typer) -> None:
    control = typer.Typer(help="The ops control API: HTTP API, web page, /metrics.")
    app.add_typer(control, name="control", no_args_is_help=True)

    @control.command("run")
    def run(config: ConfigOpt = None) -> None:
        """Serve the API and page until SIGTERM (settings: FLEET_CONTROL_* environment)."""
        main(config)

    ops = typer.Typer(help="Operator commands, sent through the control API to ops.commands.")
    app.add_typer(ops, name="ops", no_args_is_help=True)

    @ops.command("redistill")
    def redistill(
        max_steps: Annotated[int | None, Opt(min=1, help="Cap on training steps")] = None,
        reason: ReasonOpt = "",
        config: ConfigOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        operator: OperatorOpt = None,
    ) -> None:
        """Retrain the student now."""
        client = _client(config, url, token, operator)
        _send(client, "redistill", {"max_steps": max_steps, "reason": reason})

    @ops.command("rollout")
    def rollout(
        version: Annotated[int, typer.Argument(min=1, help="Release version")],
        groups: GroupsOpt = None,
        canary_fraction: Annotated[float | None, Opt(min=0, max=1)] = None,
        reason: ReasonOpt = "",
        config: ConfigOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        operator: OperatorOpt = None,
    ) -> None:
        """Ship a release: canary groups first, then the fleet."""
        client = _client(config, url, token, operator)
        arguments = {"version": version, "groups": groups, "canary_fraction": canary_fraction}
        _send(client, "rollout", {**arguments, "reason": reason})

    @ops.command("halt")
    def halt(
        version: Annotated[int | None, Opt(help="Default: whatever is rolling out")] = None,
        reason: ReasonOpt = "",
        config: ConfigOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        operator: OperatorOpt = None,
    ) -> None:
        """Stop an in-progress rollout where it is."""
        client = _client(config, url, token, operator)
        _send(client, "halt", {"version": version, "reason": reason})

    @ops.command("rollback")
    def rollback(
        to_version: Annotated[int | None, Opt(help="Default: previous confirmed")] = None,
        groups: GroupsOpt = None,
        reason: ReasonOpt = "",
        config: ConfigOpt = None,
        url: UrlOpt = None,
        token: TokenOpt = None,
        operator: OperatorOpt = None,
    ) -> None:
        """Send devices back to an earlier release."""
        client = _client(config, url, token, operator)
        _send(client, "rollback", {"to_version": to_version, "groups": groups, "reason": reason})
