"""Ops commands for the rollout manager (``ops.commands``): Rollout (start or resume;
``groups`` replaces the stage order), Halt, Rollback. Each ``command_id`` is acted on once (the
ids applied are kept in the records), commands older than ``max_command_age_s`` are ignored,
and every check comes before the first effect: a refused command (a group that is not a
configured stage, a rollback to a version that is not an older completed release of the same
target) halts, signs and stores nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from contract.errors import SignatureError, ValidationError
from contract.schemas import Halt, Redistill, Rollback, Rollout, parse_ops_command
from services.releases.store import ReleaseStoreError
from services.rollout import machine
from services.rollout.machine import RolloutError
from services.rollout.rollback import RollbackError
from services.rollout.settings import RolloutSettings

if TYPE_CHECKING:
    from services.rollout.manager import RolloutManager

log = logging.getLogger("services.rollout.manager")


def on_command(m: RolloutManager, raw: bytes) -> None:
    try:
        command = parse_ops_command(raw)
    except ValidationError as exc:
        log.warning("bad ops command: %s", exc.reason)
        return
    if isinstance(command, Redistill):
        return  # the distiller's
    if command.ts < m.clock() - m.settings.max_command_age_s:
        log.warning("ops %s %s is stale (issued %.0f s ago); ignored", command.command,
                    command.command_id, m.clock() - command.ts)  # fmt: skip
        m.metrics.commands.labels(command.command, "stale").inc()
        return
    if any(command.command_id in r.commands for r in m.records.values()):
        m.metrics.commands.labels(command.command, "duplicate").inc()
        return
    try:
        if isinstance(command, Rollout):
            _rollout(m, command)
        elif isinstance(command, Halt):
            _halt(m, command)
        elif isinstance(command, Rollback):
            _rollback(m, command)
    except (RolloutError, RollbackError, ReleaseStoreError, SignatureError) as exc:
        log.warning("ops %s %s refused: %s", command.command, command.command_id, exc)
        m.metrics.commands.labels(command.command, "refused").inc()
        return
    m.metrics.commands.labels(command.command, "applied").inc()


def check_groups(settings: RolloutSettings, groups: Sequence[str]) -> None:
    """Refuse groups that are not configured stages (before anything is acted on)."""
    configured = [s.group for s in settings.stages]
    unknown = sorted({g for g in groups if g not in configured})
    if unknown:
        raise RolloutError(f"unknown groups {unknown}; configured: {configured}")
    if len(set(groups)) != len(groups):
        raise RolloutError(f"groups must be distinct, got {list(groups)}")


def _rollout(m: RolloutManager, command: Rollout) -> None:
    check_groups(m.settings, command.groups)
    record = m.records.get(command.version)
    if record is None:
        m._check_release(m.store.manifest(command.version))
        stages = [(s.group, s) for s in m.settings.stages]
        if command.groups:
            stages = [(g, m.settings.stage(g)) for g in command.groups]
        record = machine.create(command.version, stages, m.clock())
    m._put(machine.note_command(record, command.command_id))
    m._start(command.version)


def _halt(m: RolloutManager, command: Halt) -> None:
    versions = [
        v for v, r in m.records.items()
        if r.status in ("in_progress", "pending")
        and (command.version is None or v == command.version)
    ]  # fmt: skip
    if not versions:
        raise RolloutError(f"no rollout in progress for version {command.version}")
    for version in versions:
        record = machine.note_command(m.records[version], command.command_id)
        reason = f"ops halt by {command.issued_by}: {command.reason}".strip(": ")
        record, actions = machine.halt(record, reason, m.clock())
        m._put(record)
        m.metrics.halts.labels("ops").inc()
        m._apply(actions)


def _rollback(m: RolloutManager, command: Rollback) -> None:
    sent = [r for r in m.records.values() if machine.touched(r) and r.kind == "release"]
    sent = [r for r in sent if r.status not in ("rolled_back", "superseded")]
    if not sent:
        raise RolloutError("no release was sent to devices; nothing to roll back")
    bad = max(sent, key=lambda r: r.version)
    groups = tuple(command.groups) or tuple(s.group for s in m.settings.stages)
    # every check before the first effect: a refused command changes nothing
    check_groups(m.settings, groups)
    good = rollback_target(m, bad.version, command.to_version)
    if bad.status in ("in_progress", "pending"):
        halted, actions = machine.halt(bad, f"ops rollback by {command.issued_by}", m.clock())
        m._put(halted)
        m._apply(actions)
    m._put(machine.note_command(m.records[bad.version], command.command_id))
    m.roll_back(bad.version, groups, good)


def rollback_target(m: RolloutManager, bad: int, to_version: int | None) -> int:
    """The release whose weights a roll-forward of ``bad`` carries: ``to_version`` only
    when it is older, completed its rollout (devices confirmed it) and has the same
    target; without it, the newest such release."""
    if to_version is None:
        good = machine.good_weights(m.records.values(), below=bad)
        if good is None:
            raise RollbackError(f"no completed release older than {bad} to roll back to")
        return good
    if to_version >= bad:
        raise RollbackError(f"to_version {to_version} is not older than release {bad}")
    record = m.records.get(to_version)
    if record is None or record.status != "completed":
        status = "unknown" if record is None else record.status
        raise RollbackError(
            f"release {to_version} is {status}; only a release whose rollout completed "
            "(its devices confirmed it) can be rolled back to"
        )
    try:
        targets = {m.store.manifest(v).target for v in (to_version, bad)}
    except ReleaseStoreError as exc:
        raise RollbackError(f"cannot roll back to {to_version}: {exc}") from exc
    if len(targets) != 1:
        raise RollbackError(f"release {to_version} is for another target than {bad}")
    return to_version
