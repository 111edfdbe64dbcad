"""The rollout manager on in-memory devices: canary then fleet, halts, roll-forward rollback,
ops commands, refused releases and restart from the persisted state."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.schemas import Halt, Rollback, Rollout
from models.blob import restamp_blob

from .conftest import GROUPS, release_blob


def ops(command_cls, command_id: str, ts: float = 1_800_000_000.0, **fields):
    """An ops command issued at ``ts`` (the fake clock's start)."""
    return command_cls(command_id=command_id, issued_by="sre", ts=ts, **fields).to_bytes()


def test_good_release_reaches_canary_first_then_the_fleet(fleet_factory, releases):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    assert set(fleet.versions("canary").values()) == {2}
    assert set(fleet.versions("fleet").values()) == {1}  # canary still baking
    record = fleet.manager.records[2]
    assert (record.status, record.stage, record.stages[0].status) == ("in_progress", 0, "baking")
    fleet.clock.advance(10)  # the canary bake
    fleet.pump()
    assert set(fleet.versions().values()) == {2}
    record = fleet.state.records[2]  # persisted
    assert record.status == "completed" and [s.status for s in record.stages] == ["passed"] * 2
    assert record.stages[1].outcomes == {d: "confirmed" for d, g in GROUPS.items() if g == "fleet"}
    assert [g for g, _ in fleet.publisher.history] == ["canary", "fleet"]
    assert fleet.chunks.served > 0
    assert (
        fleet.metrics.registry.get_sample_value(
            "fleet_rollout_devices", {"version": "2", "group": "fleet", "outcome": "confirmed"}
        )
        == 4
    )


def test_failing_release_halts_at_canary_and_rolls_forward_to_the_old_weights(
    fleet_factory, releases
):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    fleet.clock.advance(10)
    fleet.pump()
    assert fleet.manager.records[2].status == "completed"

    fleet.manager.on_release(releases.add(3, selftest_ok=False).to_bytes())
    fleet.pump()
    bad = fleet.manager.records[3]
    assert bad.status == "rolled_back" and bad.rolled_back_by == 4
    assert bad.stages[0].status == "failed" and bad.stages[1].status == "waiting"
    assert set(bad.stages[0].outcomes.values()) == {"reverted"}
    assert 3 not in fleet.group_manifest_versions("fleet")  # the fleet never saw it
    # The roll-forward: release 4 carries release 2's weights, canary devices run it.
    rollback = fleet.manager.records[4]
    assert (rollback.kind, rollback.weights_of, rollback.rollback_of) == ("rollback", 2, 3)
    assert [s.group for s in rollback.stages] == ["canary"]
    assert fleet.versions() == {d: 4 if g == "canary" else 2 for d, g in GROUPS.items()}
    assert restamp_blob(releases.store.blob(4), 2) == releases.store.blob(2)  # all but version
    assert [m.version for m in fleet.sink.published] == [4]
    assert fleet.group_manifest_versions("canary") == [2, 3, 2, 4]  # restored, then rolled
    fleet.clock.advance(10)
    fleet.pump()
    assert fleet.manager.records[4].status == "completed"
    assert fleet.metrics.registry.get_sample_value("fleet_rollout_halts_total",
                                                   {"cause": "failures"}) == 1  # fmt: skip


def test_one_failure_in_the_fleet_within_the_threshold_does_not_halt(fleet_factory, releases):
    fleet = fleet_factory()
    fleet.agents["dev-0006"].device.fail_selftest = True  # 1 of 4 fleet devices: 25 % allowed
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    fleet.clock.advance(10)
    fleet.pump()
    record = fleet.manager.records[2]
    assert record.status == "completed"
    assert record.stages[1].outcomes["dev-0006"] == "reverted"


def test_stage_timeout_halts_and_restores_the_group_manifest(fleet_factory, releases):
    fleet = fleet_factory()
    fleet.agents["dev-0002"].transport.set_online(False)  # never gets the release
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    assert fleet.manager.records[2].stages[0].status == "in_progress"  # 1 of 2 confirmed
    fleet.clock.advance(101)
    fleet.pump()
    record = fleet.manager.records[2]
    assert record.status == "halted" and "timed out" in record.reason
    assert fleet.group_manifest_versions("canary") == [2, None]  # nothing good before: cleared
    assert "fleet/groups/canary/ota" not in fleet.broker.retained
    assert fleet.sink.published == []  # a timeout is not a regression: no rollback
    assert fleet.versions("fleet") == {d: 1 for d, g in GROUPS.items() if g == "fleet"}


def test_ops_rollout_halt_and_resume_each_command_once(fleet_factory, releases):
    fleet = fleet_factory(auto_start=False)
    fleet.manager.on_release(releases.add(2).to_bytes())
    assert fleet.manager.records[2].status == "pending" and fleet.publisher.history == []
    fleet.manager.on_command(ops(Rollout, "cmd-1", version=2))
    fleet.pump()
    fleet.manager.on_command(ops(Halt, "cmd-2", version=2, reason="looks odd"))
    record = fleet.manager.records[2]
    assert record.status == "halted" and "looks odd" in record.reason
    fleet.manager.on_command(ops(Rollout, "cmd-1", version=2))  # redelivered: ignored
    assert fleet.manager.records[2].status == "halted"
    fleet.clock.advance(50)
    fleet.manager.tick()
    assert fleet.manager.records[2].status == "halted"  # a halted rollout does not advance
    fleet.manager.on_command(ops(Rollout, "cmd-3", version=2))  # resume at canary
    fleet.pump()
    fleet.clock.advance(10)
    fleet.pump()
    record = fleet.manager.records[2]
    assert record.status == "completed"
    assert record.commands == ["cmd-1", "cmd-2", "cmd-3"]


def test_ops_rollback_of_a_completed_release_rolls_the_whole_fleet_forward(fleet_factory, releases):
    fleet = fleet_factory()
    for version in (2, 3):
        fleet.manager.on_release(releases.add(version).to_bytes())
        fleet.pump()
        fleet.clock.advance(10)
        fleet.pump()
    fleet.manager.on_command(ops(Rollback, "cmd-9", reason="accuracy dropped"))
    fleet.pump()
    fleet.clock.advance(10)
    fleet.pump()
    assert fleet.manager.records[3].status == "rolled_back"
    assert fleet.manager.records[4].weights_of == 2
    assert set(fleet.versions().values()) == {4}


def test_refuses_forged_unknown_and_mismatched_releases(fleet_factory, releases):
    fleet = fleet_factory()
    forged = releases.manifest(2, release_blob(2), key=Ed25519PrivateKey.generate())
    releases.store.put(forged, release_blob(2))  # right bytes, wrong signer
    fleet.manager.on_release(forged.to_bytes())
    not_stored = releases.manifest(3, release_blob(3))
    fleet.manager.on_release(not_stored.to_bytes())
    releases.add(4)
    wrong_bytes = releases.manifest(4, release_blob(5))
    fleet.manager.on_release(wrong_bytes.to_bytes())
    fleet.manager.on_release(b"{not json")
    assert fleet.manager.records == {} and fleet.publisher.history == []
    assert fleet.metrics.registry.get_sample_value("fleet_rollout_releases_total",
                                                   {"result": "refused"}) == 4  # fmt: skip


def test_restart_resumes_from_the_persisted_state(fleet_factory, releases):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    settings = fleet.manager.settings
    manager = fleet.new_manager(settings)  # the old one is gone; same state store
    manager.load()
    assert manager.records[2].stages[0].status == "baking"
    manager.on_release(releases.store.manifest(2).to_bytes())  # redelivered: a duplicate
    fleet.clock.advance(10)
    fleet.pump()
    assert manager.records[2].status == "completed"
    assert set(fleet.versions().values()) == {2}


def test_a_newer_release_supersedes_an_unfinished_one(fleet_factory, releases):
    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    fleet.manager.on_release(releases.add(3).to_bytes())
    fleet.pump()
    assert fleet.manager.records[2].status == "superseded"
    assert fleet.manager.records[3].stages[0].status == "baking"


def test_stale_commands_and_rejections_of_a_release_already_running_are_ignored(
    fleet_factory, releases
):
    from contract.schemas import DeviceStatus, OtaProgress

    fleet = fleet_factory()
    fleet.manager.on_release(releases.add(2).to_bytes())
    fleet.pump()
    stale = Halt(command_id="old-1", issued_by="sre", ts=fleet.clock() - 3600)
    fleet.manager.on_command(stale.to_bytes())
    assert fleet.manager.records[2].status == "in_progress"
    again = DeviceStatus(
        device_id="dev-0001", kind="ota", ts=fleet.clock(), model_version=2,
        firmware_version="1.0.0", uptime_s=1,
        ota=OtaProgress(release_version=2, step="rejected", reason="not newer"),
    )  # fmt: skip
    fleet.manager.on_status(again.to_bytes())
    assert fleet.manager.records[2].stages[0].outcomes["dev-0001"] == "confirmed"


def test_chunks_are_served_only_for_releases_a_retained_manifest_may_name(fleet_factory, releases):
    fleet = fleet_factory()
    for version in (2, 3):
        fleet.manager.on_release(releases.add(version).to_bytes())
        fleet.pump()
        fleet.clock.advance(10)
        fleet.pump()
    assert set(fleet.chunks.blobs) == {3}  # 2 is no group's last good release any more
    fleet.new_manager(fleet.manager.settings).load()
    assert set(fleet.chunks.blobs) == {3}
