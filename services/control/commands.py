"""Turning an ops request (a JSON body, or the web page's form) into a validated command:
the caller gives the command's own arguments; the server assigns ``command_id``, ``ts`` and
``issued_by``. Validation is the schema's (``contract/schemas/ops.py``), through the one
parse path, so a refusal names the field exactly as a consumer would."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from contract.errors import ValidationError
from contract.schemas.base import parse
from contract.schemas.ops import OPS_COMMAND_ADAPTER, Halt, Redistill, Rollback, Rollout
from services.control.sink import Command

COMMANDS: dict[str, type[Command]] = {
    "redistill": Redistill,
    "rollout": Rollout,
    "halt": Halt,
    "rollback": Rollback,
}
SERVER_FIELDS = ("schema_version", "command_id", "ts", "issued_by")  # never from the caller
LIST_FIELDS = ("groups",)  # comma-separated in forms and on the command line
FORM_ONLY = ("token", "operator")  # form fields that are not command arguments
_OPERATOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,47}$")


def issuer(operator: str | None) -> str:
    """``issued_by``: ``ops`` (the holder of the ops token), or ``ops:<operator>`` when the
    request names one (the CLI sends the login name)."""
    if not operator:
        return "ops"
    if not _OPERATOR.match(operator):
        raise ValidationError(f"operator must match {_OPERATOR.pattern}, got {operator[:64]!r}")
    return f"ops:{operator}"


def body_fields(body: bytes) -> dict[str, Any]:
    """The arguments in a JSON request body (empty body: none)."""
    if not body.strip():
        return {}
    try:
        fields = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationError(f"body is not JSON: {exc}"[:300]) from exc
    if not isinstance(fields, dict):
        raise ValidationError(f"body must be a JSON object, got {type(fields).__name__}")
    return fields


def form_fields(form: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments in a submitted form: empty fields are left out (schema defaults apply),
    ``groups`` is comma-separated."""
    fields: dict[str, Any] = {}
    for key, value in form.items():
        if key in FORM_ONLY or not isinstance(value, str) or not value.strip():
            continue
        if key in LIST_FIELDS:
            fields[key] = [part.strip() for part in value.split(",") if part.strip()]
        else:
            fields[key] = value.strip()
    return fields


def build_command(
    kind: str,
    fields: Mapping[str, Any],
    issued_by: str,
    now: float | None = None,
    command_id: str | None = None,
) -> Command:
    """The validated command; raises :class:`ValidationError` naming what is wrong."""
    if kind not in COMMANDS:
        raise ValidationError(f"unknown command {kind!r}; valid: {sorted(COMMANDS)}")
    assigned = sorted(set(fields) & set(SERVER_FIELDS))
    if assigned:
        raise ValidationError(f"{', '.join(assigned)}: assigned by the server, leave out")
    if fields.get("command", kind) != kind:
        raise ValidationError(f"command: {fields['command']!r} sent to the {kind} endpoint")
    data = {
        **fields,
        "command": kind,
        "command_id": command_id or f"cmd-{uuid.uuid4().hex}",
        "ts": time.time() if now is None else now,
        "issued_by": issued_by,
    }
    return parse(OPS_COMMAND_ADAPTER, json.dumps(data, ensure_ascii=False).encode("utf-8"))
