"""The ops page's HTML, rendered on the server: the login form, the console (status parts,
charts, rollout timeline, releases with their gate and signature, commands, forms), the
confirmation step of a command and the refusal page. Everything shown is escaped; the only
script is /static/console.js (refresh), and styles come from /static/console.css."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

from services.control.sink import Command
from services.status.report import StatusReport

# command -> its form fields: (name, label, input type, placeholder)
FORMS: dict[str, list[tuple[str, str, str, str]]] = {
    "redistill": [("max_steps", "max steps", "number", "configured")],
    "rollout": [
        ("version", "version", "number", "required"),
        ("groups", "groups", "text", "canary,fleet (empty: configured order)"),
        ("canary_fraction", "canary fraction", "text", "0..1 (empty: configured)"),
    ],
    "halt": [("version", "version", "number", "empty: whatever is rolling out")],
    "rollback": [
        ("to_version", "to version", "number", "empty: previous confirmed"),
        ("groups", "groups", "text", "empty: whole fleet"),
    ],
}
COMMAND_HEADERS = ("time (UTC)", "command", "arguments", "issued by", "reason", "command id")
SCRIPT = '<script src="/static/console.js" defer></script>'
HEAD = (
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
    '<link rel="icon" href="/static/favicon.svg"><link rel="stylesheet" '
    'href="/static/console.css">{script}</head><body>'
)


@dataclass
class ConsoleView:
    role: str  # of the session: ops (may send commands) or read
    csrf: str
    report: StatusReport
    releases: list[dict[str, Any]]
    releases_error: str | None
    commands: list[Command]
    commands_error: str | None
    charts: list[str]  # SVG
    timeline: str  # SVG or a note
    minutes: int  # chart range
    accepted: Command | None = None  # the command a form just sent, as read back
    accepted_id: str | None = None
    notes: list[str] = field(default_factory=list)


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _cell(value: Any, cls: str = "") -> str:
    attr = f' class="{escape(cls)}"' if cls else ""
    if value is None:
        return f"<td{attr}>?</td>"
    if isinstance(value, bool):
        return f"<td{attr}>{'yes' if value else 'no'}</td>"
    return f"<td{attr}>{escape(str(value))}</td>"


def _table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str, table_id: str = ""
) -> str:
    if not rows:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    ident = f' id="{table_id}"' if table_id else ""
    return f"<table{ident}><tr>{head}</tr>{body}</table>"


def _error(what: str, error: str | None) -> str:
    return f'<p class="error">{escape(what)}: {escape(error)}</p>' if error else ""


def arguments(command: Command) -> str:
    skip = {"schema_version", "command", "command_id", "issued_by", "ts", "reason"}
    data = command.model_dump(mode="json", exclude=skip)
    shown = {k: ",".join(v) if isinstance(v, list) else v for k, v in data.items()}
    return ", ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, ""))


def _components(report: StatusReport) -> str:
    part = report.components
    rows = "".join(
        f'<tr><td>{escape(r["name"])}</td><td class="{escape(r["state"])}">'
        f"{escape(r['state'])}</td><td>{escape(str(r['pid'] or '-'))}</td>"
        f"<td>{escape(', '.join(f'{k} {v}' for k, v in r['ports'].items()))}</td>"
        f"<td>{escape(r['detail'])}</td></tr>"
        for r in part.rows
    )
    table = (
        f'<table id="components"><tr><th>component</th><th>state</th><th>pid</th>'
        f"<th>ports</th><th>detail</th></tr>{rows}</table>"
        if rows
        else ""
    )
    return _error("stack", part.error) + table


def _fleet(report: StatusReport) -> str:
    f = report.fleet
    rows = [
        (f"v{r['version']}", r["group"], r["outcome"], _num(r["devices"], ".0f")) for r in f.rows
    ]
    rates = ", ".join(f"v{v}: {r:.2f}/s" for v, r in sorted(f.events_per_s.items())) or "none"
    return (
        _error("fleet (Prometheus)", f.error)
        + f"<p>Devices that reported recently: <b>{_num(f.devices_seen, '.0f')}</b>; "
        f"predictions by release: {escape(rates)}</p>"
        + _table(("release", "group", "outcome", "devices"), rows, "No device reports.", "fleet")
    )


def _drift(report: StatusReport) -> str:
    d = report.drift
    rows = "".join(
        f"<tr><td>v{escape(r['model_version'])}</td><td>{_num(r['class_mix_psi'])}</td>"
        f"<td>{_num(r['confidence_psi'])}</td><td>{_num(r['low_confidence'])}</td>"
        f'<td class="spark">{escape(r["trend"])}</td></tr>'
        for r in d.rows
    )
    if not rows:
        return _error("drift (Prometheus)", d.error) + '<p class="muted">No closed window.</p>'
    return (
        '<table id="drift"><tr><th>release</th><th>class-mix PSI</th><th>confidence PSI</th>'
        "<th>low-confidence share</th><th>class-mix PSI, 30 min</th></tr>"
        f"{rows}</table>"
    )


def _pipeline(report: StatusReport) -> str:
    lab, dist = report.labeling, report.distiller
    cycles = ", ".join(f"{o} {n:.0f}" for o, n in sorted(dist.cycles.items()) if n) or "none"
    gate = ", ".join(f"{m}={v:.3g}" for m, v in sorted(dist.gate.items())) or "none yet"
    return (
        _error("labeling (Prometheus)", lab.error)
        + f"<p>Label requests {_num(lab.requests_per_s)}/s, labeled {_num(lab.labeled_per_s)}/s "
        f"({_num(lab.labeled_1h, '.0f')} in the last hour), backlog "
        f"<b>{_num(lab.backlog, '.0f')}</b>.</p>"
        + _error("distiller (Prometheus)", dist.error)
        + f"<p>Distiller: {_num(dist.samples, '.0f')} samples stored "
        f"({_num(dist.new_samples, '.0f')} new); cycles: {escape(cycles)}; newest release "
        f"v{_num(dist.current, '.0f')}, last published v{_num(dist.last_published, '.0f')}.<br>"
        f"Last gate: {escape(gate)}</p>"
    )


def _alerts(report: StatusReport) -> str:
    a = report.alerts
    rows = [
        (r["name"], r["state"], r["severity"], r["summary"], r["starts_at"], _labels(r["labels"]))
        for r in a.rows
    ]
    return _error("alerts", a.error) + _table(
        ("alert", "state", "severity", "summary", "since", "labels"),
        rows,
        f"No alert received ({a.source}).",
        "alerts",
    )


def _labels(labels: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")


def _signature(row: dict[str, Any]) -> str:
    if not row["signed"]:
        return "unsigned"
    if row["verified"] is None:
        return "signed (no release.pub to check)"
    return "verifies" if row["verified"] else "DOES NOT VERIFY"


def _releases(view: ConsoleView) -> str:
    rows = []
    for r in view.releases:
        metrics = r["metrics"]
        gate = ", ".join(
            f"{k.removeprefix('gate_')}={v:.3g}"
            for k, v in sorted(metrics.items())
            if k.startswith("gate_")
        )
        rows.append(
            (
                f"v{r['version']}",
                r["created"][:19],
                r["size"],
                r["sha256"][:12],
                _signature(r),
                r["stored"],
                r["published"],
                r["current"],
                gate or "-",
            )
        )
    headers = ("release", "created", "bytes", "sha256", "signature", "in store",
               "on model.releases", "current", "gate scores")  # fmt: skip
    return _error("model.releases", view.releases_error) + _table(
        headers, rows, "No releases yet.", "releases"
    )


def _commands(view: ConsoleView) -> str:
    rows = [
        (_when(c.ts), c.command, arguments(c), c.issued_by, c.reason, c.command_id)
        for c in view.commands
    ]
    return _error("ops.commands", view.commands_error) + _table(
        COMMAND_HEADERS, rows, "No commands yet.", "commands"
    )


def _form(kind: str, csrf: str) -> str:
    inputs = "".join(
        f'<label>{escape(text)} <input name="{name}" type="{kind_}" '
        f'placeholder="{escape(hint)}"{" min=1" if kind_ == "number" else ""}></label>'
        for name, text, kind_, hint in FORMS[kind]
    )
    return (
        f'<form class="command" id="form-{kind}" method="post" action="/ops/{kind}">'
        f"<b>{kind}</b>{inputs}"
        '<label>reason <input name="reason" maxlength="500"></label>'
        '<label>operator <input name="operator" placeholder="your name"></label>'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        f'<button type="submit">{kind}…</button></form>'
    )


def _accepted(view: ConsoleView) -> str:
    if view.accepted is not None:
        c = view.accepted
        return (
            f'<p class="note" id="answer">The server answered 202 Accepted: {escape(c.command)} '
            f"{escape(arguments(c))} as <b>{escape(c.command_id)}</b>, issued by "
            f"{escape(c.issued_by)}; it is on ops.commands (listed below).</p>"
        )
    if view.accepted_id:
        return (
            f'<p class="error" id="answer">Command {escape(view.accepted_id)} is not among the '
            "recent commands read back from ops.commands.</p>"
        )
    return ""


def render_console(view: ConsoleView) -> str:
    forms = (
        "".join(_form(kind, view.csrf) for kind in FORMS)
        if view.role == "ops"
        else '<p class="muted">Signed in with the read token: commands need the ops token.</p>'
    )
    ranges = " · ".join(
        f'<a href="/?minutes={m}">{m} min</a>' if m != view.minutes else f"<b>{m} min</b>"
        for m in sorted({15, 30, 60, 180, view.minutes})
    )
    report = view.report
    return (
        HEAD.format(title="fleet control", script=SCRIPT)
        + '<header><h1>Fleet control</h1><span class="muted">'
        f"{escape(_when(report.at))} UTC · signed in ({escape(view.role)}) "
        '<form method="post" action="/logout">'
        f'<input type="hidden" name="csrf" value="{escape(view.csrf)}">'
        '<button type="submit">sign out</button></form></span></header>'
        + _accepted(view)
        + "".join(f'<p class="note">{escape(n)}</p>' for n in view.notes)
        + "<h2>Alerts</h2>"
        + _alerts(report)
        + f"<h2>Drift and confidence</h2><p>Range: {ranges}</p>"
        + '<div class="grid-2">'
        + "".join(view.charts)
        + "</div>"
        + _drift(report)
        + "<h2>Fleet</h2>"
        + _fleet(report)
        + "<h2>Rollout</h2>"
        + _error("model.rollouts", report.rollout.error)
        + view.timeline
        + "<h2>Labeling and distillation</h2>"
        + _pipeline(report)
        + "<h2>Releases</h2>"
        + _releases(view)
        + "<h2>Commands</h2>"
        + forms
        + "<h3>Recent commands (ops.commands, newest first)</h3>"
        + _commands(view)
        + "<h2>Stack</h2>"
        + _components(report)
        + '<p class="muted">JSON: /api/v1/status, /api/v1/releases, /api/v1/commands, '
        "/api/v1/rollouts, /api/v1/alerts (bearer token) · /metrics</p></body></html>\n"
    )


def render_login(message: str | None = None) -> str:
    refusal = f'<p class="error" id="refusal">{escape(message)}</p>' if message else ""
    return (
        HEAD.format(title="fleet control: sign in", script="")
        + "<h1>Fleet control</h1>"
        + refusal
        + '<form method="post" action="/login" id="login"><label>token (ops, or read-only) '
        '<input name="token" type="password" autocomplete="current-password" required></label>'
        '<button type="submit">sign in</button></form>'
        '<p class="muted">The tokens are in var/keys/ops.token and var/keys/read.token on the '
        "control API's machine.</p></body></html>\n"
    )


def render_confirm(kind: str, command: Command, fields: dict[str, str], csrf: str) -> str:
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">'
        for k, v in fields.items()
        if k not in ("csrf", "confirm")
    )
    return (
        HEAD.format(title=f"confirm {kind}", script="")
        + f"<h1>Send {escape(kind)}?</h1>"
        + f'<p id="confirm-summary">{escape(kind)} {escape(arguments(command)) or "(defaults)"}'
        + (f" — reason: {escape(command.reason)}" if command.reason else "")
        + f"; issued by {escape(command.issued_by)}.</p>"
        + f'<form method="post" action="/ops/{escape(kind)}" id="confirm">{hidden}'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<input type="hidden" name="confirm" value="yes">'
        f'<button type="submit">confirm {escape(kind)}</button> <a href="/">cancel</a>'
        "</form></body></html>\n"
    )


def render_refusal(status: int, message: str) -> str:
    """The page a form gets when the server refuses it."""
    return (
        HEAD.format(title=str(status), script="")
        + f"<h1>{status}</h1>"
        + f'<p class="error" id="refusal">The server refused: {escape(message)}</p>'
        + '<p><a href="/">back</a></p></body></html>\n'
    )
