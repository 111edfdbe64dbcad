"""Rollout state (Kafka ``model.rollouts``, compacted, keyed by the release version as decimal
text): the rollout manager's durable state of one release, and what ops read to see where a
rollout stands (``fleet rollout status``, the control API).

One record per release version; each new record for a version replaces the previous one (the
topic is compacted), so the latest record per key is the whole truth. A record moves
``pending -> in_progress -> completed``, or ends ``halted`` (ops Halt, failures above the
stage's threshold, stage timeout), ``rolled_back`` (a newer roll-forward release carries the
earlier weights) or ``superseded`` (a newer release started while it was in progress).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from contract.schemas.base import DeviceId, Message, MessageId, ReleaseVersion, Timestamp, parse
from contract.schemas.ops import Group

RolloutStatus = Literal[
    "pending", "in_progress", "completed", "halted", "rolled_back", "superseded"
]
StageStatus = Literal["waiting", "in_progress", "baking", "passed", "failed"]
DeviceOutcome = Literal["confirmed", "reverted", "rejected"]
Fraction = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Detail = Annotated[str, StringConstraints(max_length=300)]


class StageCriteria(Message):
    """When a stage passes or halts the rollout (fractions of the stage's devices)."""

    min_confirmed: Fraction = 1.0  # confirmed devices needed before baking starts
    max_failed: Fraction = 0.0  # reverted + rejected above this fraction halts the rollout
    bake_s: Seconds = 0.0  # hold this long after min_confirmed, still under max_failed
    timeout_s: Seconds = 3600.0  # from the stage's start; not passed by then halts
    min_devices: int = Field(default=1, ge=0)  # fewer devices than this never pass (timeout)


class StageState(Message):
    group: Group  # the device group this stage ships to
    criteria: StageCriteria
    status: StageStatus = "waiting"
    started_at: Timestamp | None = None  # manifest published (retained) to the group
    met_at: Timestamp | None = None  # min_confirmed first met: the bake started
    finished_at: Timestamp | None = None  # passed or failed
    population: list[DeviceId] = Field(default_factory=list)  # devices judged, sorted
    outcomes: dict[DeviceId, DeviceOutcome] = Field(default_factory=dict)  # latest per device


class RolloutEvent(Message):
    ts: Timestamp
    event: Annotated[str, StringConstraints(max_length=64)]  # e.g. "stage_started", "halted"
    detail: Detail = ""


class RolloutRecord(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion  # the release being rolled out (record key)
    kind: Literal["release", "rollback"] = "release"  # rollback = roll-forward of old weights
    weights_of: ReleaseVersion  # release whose weights the blob carries
    rollback_of: ReleaseVersion | None = None  # for kind "rollback": the release it undoes
    status: RolloutStatus = "pending"
    stage: int = Field(default=0, ge=0)  # index into stages; len(stages) once completed
    stages: list[StageState] = Field(min_length=1, max_length=64)  # in shipping order
    created_at: Timestamp
    updated_at: Timestamp
    reason: Detail = ""  # why it halted / was rolled back / superseded
    rolled_back_by: ReleaseVersion | None = None  # the roll-forward release that replaced it
    commands: list[MessageId] = Field(default_factory=list, max_length=256)  # ops ids applied
    history: list[RolloutEvent] = Field(default_factory=list, max_length=64)  # newest last


def parse_rollout_record(raw: bytes) -> RolloutRecord:
    return parse(RolloutRecord, raw)
