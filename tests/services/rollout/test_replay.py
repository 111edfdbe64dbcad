"""A captured manifest cannot be replayed: the rollout manager binds every manifest it retains
to its group until an expiry (renewed half way), and the grant after a halt revokes the halted
release, so a device that missed the halt refuses it."""

from __future__ import annotations

from contract.schemas import Halt, ReleaseManifest, Rollout

from .conftest import GROUPS


def ops_halt(fleet, version: int) -> None:
    command = Halt(command_id=f"halt-{version}", issued_by="sre", ts=fleet.clock(), version=version)
    fleet.manager.on_command(command.to_bytes())


def completed(fleet, releases, version: int) -> None:
    fleet.manager.on_release(releases.add(version).to_bytes())
    fleet.pump()
    fleet.clock.advance(10)
    fleet.pump()
    assert fleet.manager.records[version].status == "completed"


def retained(fleet, group: str) -> list[ReleaseManifest]:
    return [
        ReleaseManifest.model_validate_json(p)
        for g, p in fleet.publisher.history
        if g == group and p
    ]


def test_a_halted_release_replayed_to_a_device_that_missed_the_halt_is_refused(
    fleet_factory, releases
):
    fleet = fleet_factory()
    completed(fleet, releases, 2)
    late = fleet.agents["dev-0002"]
    late.transport.set_online(False)  # misses release 3 and its halt
    fleet.manager.on_release(releases.add(3).to_bytes())
    fleet.pump()
    captured = retained(fleet, "canary")[-1]
    assert captured.version == 3 and captured.rollout is not None
    assert captured.rollout.group == "canary"
    ops_halt(fleet, 3)
    restored = retained(fleet, "canary")[-1]
    assert restored.version == 2 and restored.rollout.revoked == [3]
    late.transport.set_online(True)  # gets the retained (restored) manifest, runs 2 already
    fleet.broker.route("fleet/groups/canary/ota", captured.to_bytes(), retain=False)  # replay
    fleet.pump()
    assert late.model_version == 2 and late.ota.last_result == "rejected"


def test_a_group_manifest_is_refused_by_another_group(fleet_factory, releases):
    fleet = fleet_factory(auto_start=False)
    fleet.manager.on_release(releases.add(2).to_bytes())
    start = Rollout(
        command_id="r-2", issued_by="sre", ts=fleet.clock(), version=2, groups=["canary"]
    )
    fleet.manager.on_command(start.to_bytes())
    fleet.pump()
    canary = retained(fleet, "canary")[-1]
    fleet.broker.route("fleet/groups/fleet/ota", canary.to_bytes(), retain=False)
    fleet.pump()
    assert set(fleet.versions("fleet").values()) == {1}  # bound to canary, refused
    fleet.broker.route("fleet/dev-0003/ota/manifest", canary.to_bytes(), retain=False)
    assert fleet.agents["dev-0003"].model_version == 1  # not to one device of it either


def test_retained_manifests_are_renewed_before_they_expire(fleet_factory, releases):
    fleet = fleet_factory()
    completed(fleet, releases, 2)
    before = {g: len(retained(fleet, g)) for g in ("canary", "fleet")}
    fleet.clock.advance(fleet.manager.settings.manifest_ttl_s / 2)
    fleet.manager.tick()
    for group in ("canary", "fleet"):
        history = retained(fleet, group)
        assert len(history) == before[group] + 1
        assert history[-1].version == 2
        assert history[-1].rollout.expires > history[-2].rollout.expires
    # a device that connects now installs nothing new, and a new one would accept it
    assert set(fleet.versions().values()) == {2} and len(fleet.versions()) == len(GROUPS)
    restarted = fleet.new_manager(fleet.manager.settings)
    restarted.load()  # a restart renews every group's retained manifest too
    assert {g for g, _ in fleet.publisher.history[-2:]} == {"canary", "fleet"}
