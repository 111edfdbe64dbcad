"""Ops commands that must be refused without an effect, and records that must not stop the
manager: unknown groups, rollbacks to versions that are not a confirmed older release of the
same target, and any record whose handler fails (skipped, counted, its offset committed)."""

from __future__ import annotations

import pytest

from contract.schemas import Halt, Rollback, Rollout
from services.rollout import commands

from .conftest import GROUPS


def ops(command_cls, command_id: str, ts: float = 1_800_000_000.0, **fields) -> bytes:
    return command_cls(command_id=command_id, issued_by="sre", ts=ts, **fields).to_bytes()


def sample(fleet, name: str, **labels: str) -> float:
    return fleet.metrics.registry.get_sample_value(name, labels) or 0.0


def completed(fleet, releases, *versions: int) -> None:
    for version in versions:
        fleet.manager.on_release(releases.add(version).to_bytes())
        fleet.pump()
        fleet.clock.advance(10)
        fleet.pump()
        assert fleet.manager.records[version].status == "completed"


def refused(fleet, command: str) -> float:
    return sample(fleet, "fleet_rollout_commands_total", command=command, result="refused")


def test_rollout_to_an_unconfigured_group_is_refused_not_fatal(fleet_factory, releases):
    fleet = fleet_factory(auto_start=False)
    fleet.manager.on_release(releases.add(2).to_bytes())
    ops_topic = fleet.manager.settings.ops_topic
    fleet.manager.handle(ops_topic, ops(Rollout, "cmd-1", version=2, groups=["Canary"]))
    fleet.manager.handle(ops_topic, ops(Rollout, "cmd-2", version=2, groups=["canary", "canary"]))
    assert refused(fleet, "rollout") == 2
    assert fleet.manager.records[2].status == "pending" and fleet.publisher.history == []
    assert sample(fleet, "fleet_rollout_poison_records_total", topic=ops_topic) == 0
    fleet.manager.handle(ops_topic, ops(Rollout, "cmd-3", version=2, groups=["canary"]))
    fleet.pump()
    assert set(fleet.versions("canary").values()) == {2}  # a valid command still works


def test_rollback_to_an_unconfigured_group_stores_no_release(fleet_factory, releases):
    fleet = fleet_factory()
    completed(fleet, releases, 2, 3)
    stored = fleet.releases.store.versions()
    fleet.manager.on_command(ops(Rollback, "cmd-1", to_version=2, groups=["Canary"]))
    assert refused(fleet, "rollback") == 1
    assert fleet.releases.store.versions() == stored  # nothing signed and stored untracked
    assert fleet.sink.published == [] and fleet.manager.records[3].status == "completed"


@pytest.mark.parametrize(
    ("to_version", "why"),
    [
        (3, "not older"),  # the release being rolled back itself
        (9, "not older"),
        (1, "unknown"),  # never rolled out by this manager: devices never confirmed it
        (2, "halted"),  # devices did not confirm it
    ],
)
def test_rollback_to_version_must_be_an_older_confirmed_release(
    fleet_factory, releases, caplog, to_version, why
):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    fleet.manager.on_command(ops(Halt, "halt-2", version=2))
    assert fleet.manager.records[2].status == "halted"
    completed(fleet, releases, 3)
    stored = fleet.releases.store.versions()
    fleet.manager.on_command(ops(Rollback, "cmd-1", to_version=to_version))
    assert refused(fleet, "rollback") == 1
    assert why in caplog.text
    assert fleet.releases.store.versions() == stored and fleet.sink.published == []
    assert fleet.manager.records[3].status == "completed"


def test_rollback_to_a_release_of_another_target_is_refused(fleet_factory, releases):
    fleet = fleet_factory()
    completed(fleet, releases, 2, 3)
    manifest_path = releases.store.root / "2" / "manifest.json"
    other = releases.store.manifest(2).model_copy(update={"target": "other-board"})
    manifest_path.write_bytes(other.to_bytes())
    fleet.manager.on_command(ops(Rollback, "cmd-1", to_version=2))
    assert refused(fleet, "rollback") == 1 and fleet.sink.published == []


def test_a_record_whose_handler_fails_is_skipped_and_counted(
    fleet_factory, releases, monkeypatch, caplog
):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()

    def broken(manager, command):
        raise RuntimeError("a bug this record triggers")

    monkeypatch.setattr(commands, "_halt", broken)
    ops_topic = fleet.manager.settings.ops_topic
    fleet.manager.handle(ops_topic, ops(Halt, "cmd-1", version=2), where="ops[0]@7")
    assert sample(fleet, "fleet_rollout_poison_records_total", topic=ops_topic) == 1
    assert "poison record ops[0]@7" in caplog.text
    fleet.manager.handle(ops_topic, None)  # a tombstone: nothing to do
    fleet.clock.advance(10)
    fleet.pump()  # the manager carries on
    assert set(fleet.versions().values()) == {2} and len(GROUPS) == len(fleet.versions())
