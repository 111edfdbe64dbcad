"""Operator commands (Kafka ``ops.commands``): redistill, rollout, halt, rollback.

One union discriminated by ``command``; each variant carries its own arguments.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter

from contract.schemas.base import Message, MessageId, Probability, ReleaseVersion, Timestamp, parse

Group = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
Reason = Annotated[str, StringConstraints(max_length=500)]
MAX_REDISTILL_STEPS = 20_000  # ~70x the default cycle (300 steps, ~15 s on 2 cores)


class _Command(Message):
    schema_version: Literal[1] = 1
    command_id: MessageId  # unique; consumers act on each id once
    issued_by: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    ts: Timestamp
    reason: Reason = ""


class Redistill(_Command):
    """Retrain the student now instead of waiting for the schedule or drift."""

    command: Literal["redistill"] = "redistill"
    # cap on training steps; None = configured. Bounded: one command must not hold the
    # distiller (and its CPU) for days.
    max_steps: int | None = Field(default=None, ge=1, le=MAX_REDISTILL_STEPS)


class Rollout(_Command):
    """Ship a release: canary groups first, then the rest of the fleet."""

    command: Literal["rollout"] = "rollout"
    version: ReleaseVersion
    groups: list[Group] = Field(default_factory=list, max_length=64)  # empty = configured order
    canary_fraction: Probability | None = None


class Halt(_Command):
    """Stop an in-progress rollout where it is."""

    command: Literal["halt"] = "halt"
    version: ReleaseVersion | None = None  # None = whatever is rolling out


class Rollback(_Command):
    """Send devices back to an earlier release."""

    command: Literal["rollback"] = "rollback"
    to_version: ReleaseVersion | None = None  # None = the previous confirmed release
    groups: list[Group] = Field(default_factory=list, max_length=64)  # empty = whole fleet


OpsCommand = Annotated[Redistill | Rollout | Halt | Rollback, Field(discriminator="command")]
OPS_COMMAND_ADAPTER: TypeAdapter[OpsCommand] = TypeAdapter(OpsCommand)


def parse_ops_command(raw: bytes) -> Redistill | Rollout | Halt | Rollback:
    return parse(OPS_COMMAND_ADAPTER, raw)
