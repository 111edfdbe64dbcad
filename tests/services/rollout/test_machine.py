"""The pure rollout state machine: every transition from a record, an input and a time."""

from __future__ import annotations

import pytest

from contract.schemas.rollout import StageCriteria, parse_rollout_record
from services.rollout import machine
from services.rollout.machine import Halted, Publish, RolloutError

CANARY = StageCriteria(min_confirmed=1.0, max_failed=0.0, bake_s=5.0, timeout_s=60.0)
FLEET = StageCriteria(min_confirmed=0.5, max_failed=0.34, bake_s=0.0, timeout_s=60.0)
ACTIVE = {"canary": ["c1", "c2"], "fleet": ["f1", "f2", "f3"]}


def started(now: float = 0.0):
    record = machine.create(7, [("canary", CANARY), ("fleet", FLEET)], now)
    return machine.start(record, now, ACTIVE)


def test_start_publishes_to_the_first_group_with_its_active_devices():
    record, actions = started()
    assert actions == [Publish("canary", 7)]
    assert record.status == "in_progress" and record.stages[0].population == ["c1", "c2"]
    assert record.stages[1].status == "waiting"


def test_canary_bakes_then_the_fleet_starts_then_completes():
    record, _ = started()
    record = machine.observe(record, "c1", "canary", "confirmed", 1.0)
    record, actions = machine.evaluate(record, 2.0, ACTIVE)
    assert actions == [] and record.stages[0].status == "in_progress"  # 1 of 2
    record = machine.observe(record, "c2", "canary", "confirmed", 3.0)
    record, actions = machine.evaluate(record, 3.0, ACTIVE)
    assert actions == [] and record.stages[0].status == "baking"
    record, actions = machine.evaluate(record, 7.9, ACTIVE)
    assert actions == []  # still baking
    record, actions = machine.evaluate(record, 8.0, ACTIVE)
    assert actions == [Publish("fleet", 7)] and record.stage == 1
    assert record.stages[0].status == "passed" and record.stages[1].population == ["f1", "f2", "f3"]
    for device in ("f1", "f2"):
        record = machine.observe(record, device, "fleet", "confirmed", 9.0)
    record, actions = machine.evaluate(record, 9.0, ACTIVE)
    assert record.status == "completed" and record.stage == 2 and actions == []
    assert [e.event for e in record.history] == [
        "created", "stage_started", "baking", "stage_passed", "stage_started", "baking",
        "stage_passed", "completed",
    ]  # fmt: skip


def test_failures_above_the_threshold_halt_as_a_regression():
    record, _ = started()
    record = machine.observe(record, "c1", "canary", "reverted", 1.0)
    record, actions = machine.evaluate(record, 1.0, ACTIVE)
    assert record.status == "halted" and record.stages[0].status == "failed"
    assert actions == [Halted(7, "canary", ("canary",), True, record.reason)]
    assert "1 of 2" in record.reason


def test_failures_within_the_threshold_do_not_halt():
    record, _ = started()
    for device in ("c1", "c2"):
        record = machine.observe(record, device, "canary", "confirmed", 1.0)
    record, _ = machine.evaluate(record, 6.0, ACTIVE)
    record, _ = machine.evaluate(record, 11.0, ACTIVE)
    record = machine.observe(record, "f1", "fleet", "rejected", 12.0)  # 1/3 <= 0.34
    record = machine.observe(record, "f2", "fleet", "confirmed", 12.0)
    record, _ = machine.evaluate(record, 12.0, ACTIVE)
    assert record.status == "in_progress"  # 1 of 3 confirmed
    record = machine.observe(record, "f3", "fleet", "confirmed", 13.0)
    record, _ = machine.evaluate(record, 13.0, ACTIVE)
    assert record.status == "completed"


def test_timeout_halts_without_regression():
    record, _ = started()
    record = machine.observe(record, "c1", "canary", "confirmed", 1.0)
    record, actions = machine.evaluate(record, 60.0, ACTIVE)
    assert record.status == "in_progress"
    record, actions = machine.evaluate(record, 60.5, ACTIVE)
    assert record.status == "halted" and "timed out" in record.reason
    assert [a.regression for a in actions if isinstance(a, Halted)] == [False]


def test_a_device_failing_during_the_bake_halts_it():
    record, _ = started()
    for device in ("c1", "c2"):
        record = machine.observe(record, device, "canary", "confirmed", 1.0)
    record, _ = machine.evaluate(record, 1.0, ACTIVE)
    assert record.stages[0].status == "baking"
    record = machine.observe(record, "c3", "canary", "confirmed", 2.0)
    record = machine.observe(record, "c4", "canary", "reverted", 2.0)  # 1/4 > 0: halts
    record, _ = machine.evaluate(record, 2.0, ACTIVE)
    assert record.status == "halted" and record.stages[0].population == ["c1", "c2", "c3", "c4"]


def test_observe_is_idempotent_and_ignores_groups_not_yet_sent_the_release():
    record, _ = started()
    once = machine.observe(record, "c1", "canary", "confirmed", 1.0)
    assert machine.observe(once, "c1", "canary", "confirmed", 2.0) is once
    assert machine.observe(record, "f1", "fleet", "confirmed", 1.0) is record


def test_ops_halt_and_resume_keeps_confirmations_and_retries_failures():
    record, _ = started()
    record = machine.observe(record, "c1", "canary", "confirmed", 1.0)
    record = machine.observe(record, "c2", "canary", "rejected", 1.0)
    record, actions = machine.halt(record, "ops", 2.0)
    assert record.status == "halted" and actions[0].regression is False
    with pytest.raises(RolloutError, match="nothing to halt"):
        machine.halt(record, "again", 3.0)
    record, actions = machine.start(record, 4.0, ACTIVE)
    assert actions == [Publish("canary", 7)] and record.stages[0].outcomes == {"c1": "confirmed"}


def test_final_states_do_not_start_and_last_good_skips_rolled_back_releases():
    good, _ = started()
    good = good.model_copy(update={"version": 6})
    for device in ("c1", "c2"):
        good = machine.observe(good, device, "canary", "confirmed", 1.0)
    good, _ = machine.evaluate(good, 1.0, ACTIVE)
    good, _ = machine.evaluate(good, 6.0, ACTIVE)  # canary passed, fleet started
    bad, _ = started()
    bad = bad.model_copy(update={"stages": good.stages})  # pretend 7 passed canary too
    bad = machine.rolled_back(bad, 8, 9.0)
    assert machine.last_good([good, bad], "canary") == 6
    assert machine.last_good([good, bad], "fleet") is None
    with pytest.raises(RolloutError, match="rolled_back"):
        machine.start(bad, 10.0, ACTIVE)


def test_records_round_trip_through_the_wire_schema():
    record, _ = started()
    record = machine.observe(record, "c1", "canary", "confirmed", 1.0)
    assert parse_rollout_record(record.to_bytes()) == record
