"""The rollout state machine of one release: pure functions from a :class:`RolloutRecord` and
an input (start, a device outcome, the clock, a halt) to the next record and the actions the
manager must carry out. No I/O and no clock of its own, so every transition is unit-tested.

::

    pending --start--> stage 0 in_progress --min_confirmed met--> baking --bake_s--> passed
      --> stage 1 in_progress --> ... --> completed
    any in_progress/baking stage --failures > max_failed | timeout_s | ops Halt--> halted
    halted --ops Rollout--> the halted stage again (its failures forgotten, retried)
    halted/completed --a roll-forward release carries older weights--> rolled_back
    in_progress/pending --a newer release starts--> superseded

A stage's population is the group's devices seen recently when it starts, plus every device of
the group that reports on the release while it runs; fractions are over that population.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from contract.schemas.rollout import (
    DeviceOutcome,
    RolloutEvent,
    RolloutRecord,
    StageCriteria,
    StageState,
)
from services.errors import ServiceError

MAX_HISTORY = 64
MAX_COMMANDS = 256
ACTIVE = ("in_progress",)  # record statuses whose current stage is judged
CRITERIA_FIELDS = set(StageCriteria.model_fields)


class RolloutError(ServiceError):
    """A transition that the record's status does not allow (e.g. starting a completed one)."""


@dataclass(frozen=True)
class Publish:
    """Publish the release's manifest retained on the group's topic (a stage starts)."""

    group: str
    version: int


@dataclass(frozen=True)
class Halted:
    """The rollout halted at ``group``: devices there must not pick the release up any more
    (restore the group's last good manifest); ``regression`` when devices failed it, so the
    groups in ``touched`` may need a roll-forward to the earlier weights."""

    version: int
    group: str
    touched: tuple[str, ...]
    regression: bool
    reason: str


Action = Publish | Halted


def _event(record: RolloutRecord, now: float, event: str, detail: str = "") -> list[RolloutEvent]:
    history = [*record.history, RolloutEvent(ts=now, event=event, detail=detail[:300])]
    return history[-MAX_HISTORY:]


def _with_stage(record: RolloutRecord, index: int, **update: object) -> list[StageState]:
    stages = list(record.stages)
    stages[index] = stages[index].model_copy(update=update)
    return stages


def create(
    version: int,
    stages: Sequence[tuple[str, StageCriteria]],
    now: float,
    kind: Literal["release", "rollback"] = "release",
    weights_of: int | None = None,
    rollback_of: int | None = None,
) -> RolloutRecord:
    """A pending rollout of ``version`` over ``stages`` (group, criteria) in order."""
    if not stages:
        raise RolloutError(f"release {version}: a rollout needs at least one stage")
    record = RolloutRecord(
        version=version,
        kind=kind,
        weights_of=weights_of or version,
        rollback_of=rollback_of,
        stages=[
            StageState(group=g, criteria=StageCriteria(**c.model_dump(include=CRITERIA_FIELDS)))
            for g, c in stages
        ],
        created_at=now,
        updated_at=now,
    )
    return record.model_copy(update={"history": _event(record, now, "created", kind)})


def note_command(record: RolloutRecord, command_id: str) -> RolloutRecord:
    """Remember an ops command id acted on, so a redelivered command is not acted on again."""
    return record.model_copy(update={"commands": [*record.commands, command_id][-MAX_COMMANDS:]})


def start(
    record: RolloutRecord, now: float, active: Mapping[str, Collection[str]]
) -> tuple[RolloutRecord, list[Action]]:
    """Begin (pending) or resume (halted) at the current stage: publish to its group."""
    if record.status not in ("pending", "halted"):
        raise RolloutError(
            f"release {record.version} is {record.status}; only pending or halted rollouts start"
        )
    return _start_stage(record.model_copy(update={"reason": ""}), record.stage, now, active)


def _start_stage(
    record: RolloutRecord, index: int, now: float, active: Mapping[str, Collection[str]]
) -> tuple[RolloutRecord, list[Action]]:
    stage = record.stages[index]
    group = stage.group
    # A resumed stage keeps its confirmations (those devices run the release) and forgets
    # its failures: the retained manifest is offered to them again.
    confirmed = {d: o for d, o in stage.outcomes.items() if o == "confirmed"}
    stages = _with_stage(
        record, index, status="in_progress", started_at=now, met_at=None, finished_at=None,
        population=sorted({*active.get(group, ()), *confirmed}), outcomes=confirmed,
    )  # fmt: skip
    record = record.model_copy(
        update={
            "status": "in_progress", "stage": index, "stages": stages, "updated_at": now,
            "history": _event(record, now, "stage_started", f"stage {index}: {group}"),
        }
    )  # fmt: skip
    return record, [Publish(group, record.version)]


def observe(
    record: RolloutRecord, device_id: str, group: str, outcome: DeviceOutcome, now: float
) -> RolloutRecord:
    """Record a device's latest outcome for this release in its group's stage (idempotent).
    Reports from groups whose stage has not started are ignored."""
    for index, stage in enumerate(record.stages):
        if stage.group != group or stage.status == "waiting":
            continue
        if stage.outcomes.get(device_id) == outcome and device_id in stage.population:
            return record
        population = sorted({*stage.population, device_id})
        outcomes = {**stage.outcomes, device_id: outcome}
        stages = _with_stage(record, index, population=population, outcomes=outcomes)
        return record.model_copy(update={"stages": stages, "updated_at": now})
    return record


def counts(stage: StageState) -> tuple[int, int, int]:
    """(population, confirmed, failed) of a stage."""
    values = list(stage.outcomes.values())
    failed = sum(1 for v in values if v in ("reverted", "rejected"))
    return len(stage.population), values.count("confirmed"), failed


def evaluate(
    record: RolloutRecord, now: float, active: Mapping[str, Collection[str]]
) -> tuple[RolloutRecord, list[Action]]:
    """Judge the current stage at ``now``: halt on failures or timeout, bake, pass, advance."""
    if record.status not in ACTIVE:
        return record, []
    index = record.stage
    stage = record.stages[index]
    crit = stage.criteria
    population, confirmed, failed = counts(stage)
    if population and failed / population > crit.max_failed:
        reason = (
            f"{failed} of {population} devices in {stage.group} failed release {record.version}"
        )
        return halt(record, reason, now, regression=True)
    started = stage.started_at if stage.started_at is not None else now
    met = population >= crit.min_devices and (
        confirmed / population >= crit.min_confirmed if population else crit.min_devices == 0
    )
    if not met:
        if now - started > crit.timeout_s:
            reason = (
                f"stage {stage.group} timed out after {crit.timeout_s:.0f} s: "
                f"{confirmed} of {population} devices confirmed"
            )
            return halt(record, reason, now, regression=False)
        if stage.status == "baking":  # the population grew; the bake starts over when met
            stages = _with_stage(record, index, status="in_progress", met_at=None)
            return record.model_copy(update={"stages": stages, "updated_at": now}), []
        return record, []
    if stage.met_at is None:
        stages = _with_stage(record, index, status="baking", met_at=now)
        record = record.model_copy(
            update={
                "stages": stages, "updated_at": now,
                "history": _event(record, now, "baking", f"{confirmed}/{population} confirmed"),
            }
        )  # fmt: skip
        stage = record.stages[index]
    assert stage.met_at is not None, "a baking stage has met_at"
    if now - stage.met_at < crit.bake_s:
        return record, []
    stages = _with_stage(record, index, status="passed", finished_at=now)
    detail = f"stage {index}: {stage.group}, {confirmed}/{population} confirmed"
    record = record.model_copy(
        update={"stages": stages, "updated_at": now,
                "history": _event(record, now, "stage_passed", detail)}
    )  # fmt: skip
    if index + 1 < len(record.stages):
        return _start_stage(record, index + 1, now, active)
    record = record.model_copy(
        update={"status": "completed", "stage": len(record.stages),
                "history": _event(record, now, "completed")}
    )  # fmt: skip
    return record, []


def touched(record: RolloutRecord) -> tuple[str, ...]:
    """Groups that were sent the release (their stage started)."""
    return tuple(s.group for s in record.stages if s.status != "waiting")


def halt(
    record: RolloutRecord, reason: str, now: float, regression: bool = False
) -> tuple[RolloutRecord, list[Action]]:
    """Stop where it is: the current stage fails and no further stage starts."""
    if record.status not in ("in_progress", "pending"):
        raise RolloutError(f"release {record.version} is {record.status}; nothing to halt")
    index = min(record.stage, len(record.stages) - 1)
    stage = record.stages[index]
    stages = record.stages
    if stage.status in ("in_progress", "baking"):
        stages = _with_stage(record, index, status="failed", finished_at=now)
    record = record.model_copy(
        update={
            "status": "halted", "stages": stages, "updated_at": now, "reason": reason[:300],
            "history": _event(record, now, "halted", reason),
        }
    )  # fmt: skip
    groups = touched(record)
    if not groups:  # halted while pending: nobody was sent anything
        return record, []
    return record, [Halted(record.version, stage.group, groups, regression, reason[:300])]


def rolled_back(record: RolloutRecord, by_version: int, now: float) -> RolloutRecord:
    detail = f"roll-forward release {by_version} carries earlier weights"
    return record.model_copy(
        update={
            "status": "rolled_back", "rolled_back_by": by_version, "updated_at": now,
            "reason": record.reason or detail,
            "history": _event(record, now, "rolled_back", detail),
        }
    )  # fmt: skip


def superseded(record: RolloutRecord, by_version: int, now: float) -> RolloutRecord:
    detail = f"release {by_version} started"
    return record.model_copy(
        update={
            "status": "superseded", "updated_at": now, "reason": detail,
            "history": _event(record, now, "superseded", detail),
        }
    )  # fmt: skip


def last_good(records: Iterable[RolloutRecord], group: str, below: int | None = None) -> int | None:
    """The newest release that passed ``group``'s stage and was not rolled back (optionally
    older than ``below``): what that group's retained manifest should be after a halt."""
    good = [
        r.version
        for r in records
        if r.status != "rolled_back"
        and (below is None or r.version < below)
        and any(s.group == group and s.status == "passed" for s in r.stages)
    ]
    return max(good) if good else None


def good_weights(records: Iterable[RolloutRecord], below: int) -> int | None:
    """The newest release older than ``below`` that completed (and was not rolled back)."""
    good = [r.version for r in records if r.version < below and r.status == "completed"]
    return max(good) if good else None
