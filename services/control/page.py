"""The ops web page: one server-rendered HTML page (no JavaScript) with the releases, the
recent commands and a form per command; forms post to the same API endpoints."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

from services.control.sink import Command

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 72rem; }
table { border-collapse: collapse; margin-bottom: 1rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; font-size: 0.9rem; }
form { display: inline-block; vertical-align: top; border: 1px solid #ccc; padding: 0.5rem;
       margin: 0 0.5rem 0.5rem 0; }
label { display: block; margin: 0.2rem 0; }
.note { background: #eef7ee; padding: 0.5rem; } .error { background: #fbeaea; padding: 0.5rem; }
"""

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

RELEASE_HEADERS = (
    "version",
    "target",
    "created",
    "bytes",
    "sha256",
    "signed",
    "in store",
    "on model.releases",
    "current",
    "metrics",
)
COMMAND_HEADERS = ("time (UTC)", "command", "arguments", "issued by", "reason", "command id")


def _cell(value: Any) -> str:
    if value is None:
        return "<td>?</td>"
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}</td>"
    return f"<td>{escape(str(value))}</td>"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    if not rows:
        return f"<p>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _arguments(command: Command) -> str:
    skip = {"schema_version", "command", "command_id", "issued_by", "ts", "reason"}
    data = command.model_dump(mode="json", exclude=skip)
    shown = {k: ",".join(v) if isinstance(v, list) else v for k, v in data.items()}
    return ", ".join(f"{k}={v}" for k, v in shown.items() if v not in (None, ""))


def _form(kind: str) -> str:
    inputs = "".join(
        f'<label>{escape(text)} <input name="{name}" type="{kind_}" '
        f'placeholder="{escape(hint)}"{" min=1" if kind_ == "number" else ""}></label>'
        for name, text, kind_, hint in FORMS[kind]
    )
    return (
        f'<form method="post" action="/api/v1/{kind}"><b>{kind}</b>{inputs}'
        '<label>reason <input name="reason" maxlength="500"></label>'
        '<label>operator <input name="operator" placeholder="your name"></label>'
        '<label>ops token <input name="token" type="password" required></label>'
        f'<button type="submit">{kind}</button></form>'
    )


def render_page(
    releases: Sequence[dict[str, Any]],
    releases_error: str | None,
    commands: Sequence[Command],
    commands_error: str | None,
    accepted: str | None = None,
) -> str:
    """The whole page; ``commands`` newest first. ``accepted`` (a command id from the
    redirect after a form) is confirmed only when it was read back from the log."""
    notes = []
    if accepted and accepted in {c.command_id for c in commands}:
        notes.append(f'<p class="note">Command {escape(accepted)} is on ops.commands.</p>')
    release_rows = [
        (
            r["version"],
            r["target"],
            r["created"],
            r["size"],
            r["sha256"][:12],
            r["verified"] if r["verified"] is not None else r["signed"],
            r["stored"],
            r["published"],
            r["current"],
            ", ".join(f"{k}={v:.4g}" for k, v in sorted(r["metrics"].items())),
        )
        for r in releases
    ]
    command_rows = [
        (
            datetime.fromtimestamp(c.ts, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            c.command,
            _arguments(c),
            c.issued_by,
            c.reason,
            c.command_id,
        )
        for c in commands
    ]
    errors = [
        f'<p class="error">{escape(what)}: {escape(error)}</p>'
        for what, error in (("model.releases", releases_error), ("ops.commands", commands_error))
        if error
    ]
    releases_table = _table(RELEASE_HEADERS, release_rows, "No releases yet.")
    commands_table = _table(COMMAND_HEADERS, command_rows, "No commands yet.")
    forms = "".join(_form(kind) for kind in FORMS)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>fleet control</title>
<style>{STYLE}</style></head><body>
<h1>Fleet control</h1>
{"".join(notes)}{"".join(errors)}
<h2>Releases</h2>
{releases_table}
<h2>Commands</h2>
{forms}
<h2>Recent commands (ops.commands, newest first)</h2>
{commands_table}
<p><a href="/api/v1/releases">/api/v1/releases</a> · <a href="/api/v1/commands">/api/v1/commands</a>
· <a href="/metrics">/metrics</a></p>
</body></html>
"""


def render_error(status: int, message: str) -> str:
    """The page a form submission gets when the command is refused."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}</title>'
        f"<style>{STYLE}</style></head><body><h1>{status}</h1>"
        f'<p class="error">{escape(message)}</p><p><a href="/">back</a></p></body></html>\n'
    )
