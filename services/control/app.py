"""The control API as an aiohttp application.

    POST /api/v1/{redistill,rollout,halt,rollback}   a command (JSON body, or the page's form)
    GET  /api/v1/releases                            releases: store + model.releases
    GET  /api/v1/commands[?limit=N]                  recent commands, newest first
    GET  /                                           the web page
    GET  /metrics                                    Prometheus

A command is answered 202 only after Kafka acknowledged it (acks=all); 400 names what is
invalid, 401 means no or a wrong ops token (``Authorization: Bearer <token>``; the page's
forms send it as the ``token`` field), 503 that Kafka did not take it. Kafka calls are
blocking (kafka-python) and run on worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.control.auth import bearer, token_matches
from services.control.commands import COMMANDS, body_fields, build_command, form_fields, issuer
from services.control.metrics import ControlMetrics
from services.control.page import render_error, render_page
from services.control.releases import ReleaseFeed, ReleaseFeedError, release_rows
from services.control.sink import Command, CommandSink, CommandSinkError
from services.errors import ValidationError
from services.releases.store import ReleaseStore

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 1024
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OPERATOR_HEADER = "X-Fleet-Operator"
_dumps = functools.partial(json.dumps, ensure_ascii=False)


@dataclass(frozen=True)
class Control:
    """What the handlers need; built once in ``main()`` (or by a test, with doubles)."""

    sink: CommandSink
    feed: ReleaseFeed
    store: ReleaseStore
    token: str
    metrics: ControlMetrics
    recent_limit: int = 50
    public_key: bytes | None = None  # release.pub: the page shows whether signatures verify


CONTROL = web.AppKey("control", Control)


def create_app(control: Control) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[CONTROL] = control
    kinds = "|".join(COMMANDS)
    app.router.add_post(f"/api/v1/{{command:{kinds}}}", post_command)
    app.router.add_get("/api/v1/releases", get_releases)
    app.router.add_get("/api/v1/commands", get_commands)
    app.router.add_get("/", get_page)
    app.router.add_get("/metrics", get_metrics)
    app.on_cleanup.append(_close)
    return app


async def _close(app: web.Application) -> None:
    await asyncio.to_thread(app[CONTROL].sink.close)


def _refuse(form: bool, status: int, message: str, **headers: str) -> web.Response:
    if form:
        return web.Response(
            status=status, text=render_error(status, message), content_type="text/html"
        )
    return web.json_response({"error": message}, status=status, headers=headers, dumps=_dumps)


async def post_command(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    kind = request.match_info["command"]
    count = control.metrics.commands
    form = request.content_type in FORM_TYPES
    # 1. Authenticate (a form carries the token in its fields, an API call in the header).
    if form:
        submitted = await request.post()
        given = submitted.get("token")
        given = given if isinstance(given, str) else None
        operator = submitted.get("operator")
    else:
        given = bearer(request.headers.get("Authorization"))
        operator = request.headers.get(OPERATOR_HEADER)
    if not token_matches(given, control.token):
        count.labels(kind, "unauthorized").inc()
        return _refuse(form, 401, "missing or wrong ops token", **{"WWW-Authenticate": "Bearer"})
    # 2. Validate against the command's schema; the server assigns id, time and issuer.
    try:
        fields = form_fields(submitted) if form else body_fields(await request.read())
        who = issuer(operator.strip() if isinstance(operator, str) else None)
        command = build_command(kind, fields, issued_by=who)
    except ValidationError as exc:
        count.labels(kind, "invalid").inc()
        return _refuse(form, 400, exc.reason)
    # 3. Answer only once Kafka has it (acks=all).
    started = time.perf_counter()
    try:
        await asyncio.to_thread(control.sink.send, command)
    except CommandSinkError as exc:
        count.labels(kind, "unavailable").inc()
        log.warning("command %s not stored: %s", command.command_id, exc)
        return _refuse(form, 503, f"command not stored: {exc}")
    control.metrics.ack_seconds.observe(time.perf_counter() - started)
    count.labels(kind, "accepted").inc()
    log.info("accepted %s %s from %s", kind, command.command_id, command.issued_by)
    if form:
        raise web.HTTPSeeOther(f"/?accepted={command.command_id}")
    body = {"command_id": command.command_id, "command": command.model_dump(mode="json")}
    return web.json_response(body, status=202, dumps=_dumps)


async def _releases(control: Control) -> tuple[list[dict[str, Any]], str | None]:
    try:
        published = await asyncio.to_thread(control.feed.published)
        error = None
    except ReleaseFeedError as exc:
        published, error = None, str(exc)
    rows = await asyncio.to_thread(release_rows, control.store, published, control.public_key)
    return rows, error


async def _recent(control: Control, limit: int) -> list[Command]:
    commands = await asyncio.to_thread(control.sink.recent, limit)
    return commands[::-1]


async def get_releases(request: web.Request) -> web.Response:
    rows, error = await _releases(request.app[CONTROL])
    return web.json_response({"releases": rows, "published_error": error}, dumps=_dumps)


async def get_commands(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    try:
        limit = int(request.query.get("limit", control.recent_limit))
    except ValueError:
        limit = 0
    if not 1 <= limit <= control.recent_limit:
        return _refuse(False, 400, f"limit must be an integer in 1..{control.recent_limit}")
    try:
        commands = await _recent(control, limit)
    except CommandSinkError as exc:
        return _refuse(False, 503, f"cannot read the commands: {exc}")
    return web.json_response(
        {"commands": [c.model_dump(mode="json") for c in commands]}, dumps=_dumps
    )


async def get_page(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    (releases, releases_error), (commands, commands_error) = await asyncio.gather(
        _releases(control), _recent_or_error(control)
    )
    accepted = request.query.get("accepted")
    html = render_page(releases, releases_error, commands, commands_error, accepted)
    return web.Response(text=html, content_type="text/html")


async def _recent_or_error(control: Control) -> tuple[list[Command], str | None]:
    try:
        return await _recent(control, control.recent_limit), None
    except CommandSinkError as exc:
        return [], str(exc)


async def get_metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[CONTROL].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
