"""The ops page's handlers: sign in (a token typed once opens a cookie session), the console,
and commands through a form with a confirmation step, answered with what the server did."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from html import escape
from importlib import resources
from typing import Any

from aiohttp import web

from contract.errors import ValidationError
from services.control.charts import Marker, line_chart, rollout_timeline
from services.control.commands import COMMANDS, form_fields
from services.control.page import (
    ConsoleView,
    render_confirm,
    render_console,
    render_login,
    render_refusal,
)
from services.control.service import (
    CONTROL,
    Control,
    recent_or_error,
    release_table,
    session_of,
    status_report,
    submit,
)
from services.control.sessions import COOKIE, Session
from services.control.sink import CommandSinkError
from services.errors import ServiceError

STATIC = {
    "console.css": "text/css",
    "console.js": "text/javascript",
    "favicon.svg": "image/svg+xml",
}
CHART_MINUTES = (15, 30, 60, 180)
DEFAULT_MINUTES = 30  # the charts' range when the page is opened without ?minutes=
CHART_POINTS = 120
CHARTS = (  # id, title, PromQL per release (model_version)
    (
        "chart-class-mix-psi",
        "Class-mix PSI per window, by release",
        'max by (model_version) (fleet_processor_drift{feature="class_mix",statistic="psi"})',
    ),
    (
        "chart-confidence-psi",
        "Confidence PSI per window, by release",
        'max by (model_version) (fleet_processor_drift{feature="confidence",statistic="psi"})',
    ),
    (
        "chart-low-confidence",
        "Low-confidence share per window, by release",
        "max by (model_version) (fleet_processor_window_low_confidence_ratio)",
    ),
)


def add_routes(app: web.Application) -> None:
    kinds = "|".join(COMMANDS)
    app.router.add_get("/", get_page)
    app.router.add_post("/login", post_login)
    app.router.add_post("/logout", post_logout)
    app.router.add_post(f"/ops/{{command:{kinds}}}", post_form)
    app.router.add_get("/static/{name}", get_static)


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")


async def get_static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC:
        raise web.HTTPNotFound()
    body = resources.files("services.control").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=STATIC[name])


async def post_login(request: web.Request) -> web.Response:
    control = request.app[CONTROL]
    form = await request.post()
    token = form.get("token")
    role = control.tokens.role(token if isinstance(token, str) else None)
    if role not in ("ops", "read"):
        control.metrics.logins.labels("refused").inc()
        return _html(render_login("Wrong token: sign-in refused (401)."), 401)
    control.metrics.logins.labels(role).inc()
    session = control.sessions.open(role)
    response = web.HTTPSeeOther("/")
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        samesite="Strict",
        path="/",
        max_age=int(control.sessions.ttl_s),
        secure=request.secure,
    )
    raise response


async def post_logout(request: web.Request) -> web.Response:
    session = session_of(request)
    form = await request.post()
    if session is not None and session.csrf_matches(form.get("csrf")):
        request.app[CONTROL].sessions.close(session.id)
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    raise response


async def post_form(request: web.Request) -> web.Response:
    """First post: validate and show the command to confirm. Second post (``confirm=yes``):
    send it, then show the page with the server's answer (Post/Redirect/Get)."""
    control = request.app[CONTROL]
    kind = request.match_info["command"]
    session = session_of(request)
    form = await request.post()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if session is None or session.role != "ops" or not session.csrf_matches(fields.get("csrf")):
        control.metrics.commands.labels(kind, "unauthorized").inc()
        why = "sign in with the ops token first" if session is None else "needs the ops token"
        return _html(render_refusal(401, f"{kind} refused: {why}"), 401)
    operator = fields.get("operator", "").strip() or None
    arguments = form_fields({k: v for k, v in fields.items() if k not in ("csrf", "confirm")})
    if fields.get("confirm") != "yes":
        from services.control.commands import build_command, issuer

        try:
            preview = build_command(kind, arguments, issued_by=issuer(operator))
        except ValidationError as exc:
            control.metrics.commands.labels(kind, "invalid").inc()
            return _html(render_refusal(400, exc.reason), 400)
        return _html(render_confirm(kind, preview, fields, session.csrf))
    try:
        command = await submit(control, kind, arguments, operator)
    except ValidationError as exc:
        return _html(render_refusal(400, exc.reason), 400)
    except CommandSinkError as exc:
        return _html(render_refusal(503, f"command not stored: {exc}"), 503)
    raise web.HTTPSeeOther(f"/?accepted={command.command_id}")


async def get_page(request: web.Request) -> web.Response:
    session = session_of(request)
    if session is None:
        return _html(render_login())
    control = request.app[CONTROL]
    try:
        minutes = int(request.query.get("minutes", DEFAULT_MINUTES))
    except ValueError:
        minutes = DEFAULT_MINUTES
    minutes = minutes if 5 <= minutes <= 24 * 60 else DEFAULT_MINUTES  # links: CHART_MINUTES
    view = await asyncio.to_thread(_console, control, session, minutes, request.query)
    return _html(render_console(view))


def _console(control: Control, session: Session, minutes: int, query: Any) -> ConsoleView:
    """Everything the page shows (blocking: runs on a worker thread)."""
    report = status_report(control)
    release_rows, releases_error = release_table(control)
    commands, commands_error = recent_or_error(control)
    now = time.time()
    start = now - minutes * 60
    markers = [
        Marker(datetime.fromisoformat(r["created"]).timestamp(), f"v{r['version']}")
        for r in release_rows
    ]
    charts = [
        _chart(control, chart_id, title, expr, start, now, markers)
        for chart_id, title, expr in CHARTS
    ]
    timeline = (
        rollout_timeline(vars(report.rollout), now)
        if report.rollout.version is not None
        else '<p class="muted">No rollout yet.</p>'
    )
    accepted_id = query.get("accepted")
    accepted = next((c for c in commands if c.command_id == accepted_id), None)
    return ConsoleView(
        role=session.role,
        csrf=session.csrf,
        report=report,
        releases=release_rows,
        releases_error=releases_error,
        commands=commands,
        commands_error=commands_error,
        charts=charts,
        timeline=timeline,
        minutes=minutes,
        accepted=accepted,
        accepted_id=accepted_id,
    )


def _chart(
    control: Control,
    chart_id: str,
    title: str,
    expr: str,
    start: float,
    end: float,
    markers: list[Marker],
) -> str:
    series: dict[str, list[tuple[float, float]]] = {}
    error = ""
    if control.prometheus is None:
        error = "no Prometheus configured"
    else:
        try:
            for s in control.prometheus.query_range(expr, start, end, (end - start) / CHART_POINTS):
                series[f"v{s.labels.get('model_version', '?')}"] = s.points
        except ServiceError as exc:
            error = str(exc)
    svg = line_chart(chart_id, title, series, start, end, markers)
    if error:
        return f'<div><p class="error">{escape(title)}: {escape(error)}</p>{svg}</div>'
    return svg
