"""The control API as an aiohttp application.

    POST /api/v1/{redistill,rollout,halt,rollback}   a command (JSON body; ops token)
    GET  /api/v1/{releases,commands,rollouts,alerts,status}   reads (read or ops token)
    POST /api/v1/alerts                              Alertmanager's webhook (alerts token)
    GET  /  POST /login  POST /logout  POST /ops/{command}    the web page (see web.py)
    GET  /metrics                                    Prometheus

API calls carry ``Authorization: Bearer <token>``; the page uses a session cookie opened by
typing a token once (``sessions.py``), so no token is ever in a URL or a log line. A command
is answered 202 only after Kafka acknowledged it (acks=all); 400 names what is invalid, 401
means no or a wrong token, 503 that Kafka did not take it. Every answer carries a strict
Content-Security-Policy, ``X-Frame-Options: DENY`` and ``Cache-Control: no-store``. Kafka
calls are blocking (kafka-python) and run on worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contract.errors import ValidationError
from services.control.alerts import AlertBook, parse_webhook
from services.control.auth import Tokens, bearer
from services.control.commands import COMMANDS, body_fields, build_command, issuer
from services.control.metrics import ControlMetrics
from services.control.releases import ReleaseFeed, ReleaseFeedError, release_rows
from services.control.sessions import COOKIE, Session, Sessions
from services.control.sink import Command, CommandSink, CommandSinkError
from services.promql import Prometheus, PrometheusError
from services.releases.store import ReleaseStore
from services.status.report import StatusReport, collect

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 256 * 1024  # Alertmanager batches up to a few hundred alerts
OPERATOR_HEADER = "X-Fleet-Operator"
_dumps = functools.partial(json.dumps, ensure_ascii=False)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Control:
    """What the handlers need; built once in ``main()`` (or by a test, with doubles)."""

    sink: CommandSink
    feed: ReleaseFeed
    store: ReleaseStore
    tokens: Tokens
    metrics: ControlMetrics
    recent_limit: int = 50
    public_key: bytes | None = None  # release.pub: the page shows whether signatures verify
    prometheus: Prometheus | None = None  # the charts and the status parts read it
    components: Callable[[], list[Any]] = list  # the local stack's components (Stack.status)
    alerts: AlertBook = field(default_factory=AlertBook)
    sessions: Sessions = field(default_factory=Sessions)


CONTROL = web.AppKey("control", Control)


class NoPrometheus(Prometheus):
    """Stands in when no Prometheus is configured: every query says so."""

    def __init__(self) -> None:
        super().__init__("")

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        raise PrometheusError("no Prometheus configured for the control API")


@web.middleware
async def security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response


def create_app(control: Control) -> web.Application:
    from services.control import web as page

    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[security_headers])
    app[CONTROL] = control
    kinds = "|".join(COMMANDS)
    app.router.add_post(f"/api/v1/{{command:{kinds}}}", post_command)
    app.router.add_post("/api/v1/alerts", post_alerts)
    app.router.add_get("/api/v1/releases", get_releases)
    app.router.add_get("/api/v1/commands", get_commands)
    app.router.add_get("/api/v1/rollouts", get_rollouts)
    app.router.add_get("/api/v1/alerts", get_alerts)
    app.router.add_get("/api/v1/status", get_status)
    app.router.add_get("/metrics", get_metrics)
    page.add_routes(app)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    await asyncio.to_thread(app[CONTROL].sink.close)


def refuse(status: int, message: str, **headers: str) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers, dumps=_dumps)


def session_of(request: web.Request) -> Session | None:
    return request.app[CONTROL].sessions.get(request.cookies.get(COOKIE))


def may_read(request: web.Request) -> bool:
    """A read or ops token in the header, or a page session."""
    control = request.app[CONTROL]
    return control.tokens.may_read(bearer(request.headers.get("Authorization"))) or (
        session_of(request) is not None
    )


def reader(
    handler: Callable[[web.Request], Awaitable[web.Response]],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    @functools.wraps(handler)
    async def guarded(request: web.Request) -> web.Response:
        if not may_read(request):
            return refuse(401, "missing or wrong read token", **{"WWW-Authenticate": "Bearer"})
        return await handler(request)

    return guarded


async def submit(control: Control, kind: str, fields: dict[str, Any], who: str | None) -> Command:
    """Validate and store one command; raises ValidationError (400) or CommandSinkError (503)
    after counting the outcome."""
    count = control.metrics.commands
    try:
        command = build_command(kind, fields, issued_by=issuer(who))
    except ValidationError:
        count.labels(kind, "invalid").inc()
        raise
    started = time.perf_counter()
    try:
        await asyncio.to_thread(control.sink.send, command)
    except CommandSinkError as exc:
        count.labels(kind, "unavailable").inc()
        log.warning("command %s not stored: %s", command.command_id, exc)
        raise
    control.metrics.ack_seconds.observe(time.perf_counter() - started)
    count.labels(kind, "accepted").inc()
    log.info("accepted %s %s from %s", kind, command.command_id, command.issued_by)
    return command


async def post_command(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    kind = request.match_info["command"]
    if control.tokens.role(bearer(request.headers.get("Authorization"))) != "ops":
        control.metrics.commands.labels(kind, "unauthorized").inc()
        return refuse(401, "missing or wrong ops token", **{"WWW-Authenticate": "Bearer"})
    operator = request.headers.get(OPERATOR_HEADER)
    try:
        fields = body_fields(await request.read())
    except ValidationError as exc:
        control.metrics.commands.labels(kind, "invalid").inc()
        return refuse(400, exc.reason)
    try:
        command = await submit(control, kind, fields, operator.strip() if operator else None)
    except ValidationError as exc:
        return refuse(400, exc.reason)
    except CommandSinkError as exc:
        return refuse(503, f"command not stored: {exc}")
    body = {"command_id": command.command_id, "command": command.model_dump(mode="json")}
    return web.json_response(body, status=202, dumps=_dumps)


async def post_alerts(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    if control.tokens.role(bearer(request.headers.get("Authorization"))) != "alerts":
        control.metrics.alerts.labels("unauthorized").inc()
        return refuse(401, "missing or wrong alerts token", **{"WWW-Authenticate": "Bearer"})
    try:
        message = parse_webhook(await request.read())
    except ValidationError as exc:
        control.metrics.alerts.labels("invalid").inc()
        return refuse(400, exc.reason)
    count = control.alerts.receive(message)
    control.metrics.alerts.labels("accepted").inc()
    log.info("alert group %s: %d alert(s), %s", message.groupKey[:80], count, message.status)
    return web.json_response({"received": count}, dumps=_dumps)


def release_table(control: Control) -> tuple[list[dict[str, Any]], str | None]:
    """The release rows and why ``model.releases`` could not be read (blocking)."""
    try:
        published = control.feed.published()
        error = None
    except ReleaseFeedError as exc:
        published, error = None, str(exc)
    return release_rows(control.store, published, control.public_key), error


def recent_or_error(control: Control) -> tuple[list[Command], str | None]:
    """The recent commands, newest first, and why they could not be read (blocking)."""
    try:
        return control.sink.recent(control.recent_limit)[::-1], None
    except CommandSinkError as exc:
        return [], str(exc)


def status_report(control: Control) -> StatusReport:
    """The facts of ``fleet status`` as this process sees them (blocking: call on a thread)."""

    return collect(
        components=control.components,
        prometheus=control.prometheus or NoPrometheus(),
        rollouts=control.feed.rollouts,  # (ReleaseFeedError is a ServiceError)
        alerts=control.alerts.rows,
        alerts_source="Alertmanager -> control API webhook",
    )


@reader
async def get_releases(request: web.Request) -> web.Response:
    rows, error = await asyncio.to_thread(release_table, request.app[CONTROL])
    return web.json_response({"releases": rows, "published_error": error}, dumps=_dumps)


@reader
async def get_commands(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    try:
        limit = int(request.query.get("limit", control.recent_limit))
    except ValueError:
        limit = 0
    if not 1 <= limit <= control.recent_limit:
        return refuse(400, f"limit must be an integer in 1..{control.recent_limit}")
    try:
        commands = (await asyncio.to_thread(control.sink.recent, limit))[::-1]
    except CommandSinkError as exc:
        return refuse(503, f"cannot read the commands: {exc}")
    return web.json_response(
        {"commands": [c.model_dump(mode="json") for c in commands]}, dumps=_dumps
    )


@reader
async def get_rollouts(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    try:
        records = await asyncio.to_thread(control.feed.rollouts)
    except ReleaseFeedError as exc:
        return refuse(503, f"cannot read the rollouts: {exc}")
    latest = {r.version: r.model_dump(mode="json") for r in records}
    return web.json_response(
        {"rollouts": [latest[v] for v in sorted(latest, reverse=True)]}, dumps=_dumps
    )


@reader
async def get_alerts(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    return web.json_response(
        {"alerts": control.alerts.rows(), "messages": control.alerts.messages}, dumps=_dumps
    )


@reader
async def get_status(request: web.Request) -> web.Response:
    report = await asyncio.to_thread(status_report, request.app[CONTROL])
    return web.json_response(report.to_json(), dumps=_dumps)


async def get_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CONTROL].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
