"""The compacted ``model.releases`` after the writes that compaction acts on: the distiller's
releases and the rollout manager's roll-forwards, on the real Kafka. Compaction keeps the
newest record of each key; every release must keep its manifest (and reference profile)."""

from __future__ import annotations

import pytest

from services.releases.announce import KafkaAnnouncer, announced

from .conftest import TARGET

pytestmark = pytest.mark.integration


def test_every_release_keeps_its_manifest_after_releases_and_rollbacks(
    stack, kafka_topic_factory, fleet_factory, releases
):
    topic = kafka_topic_factory(compacted=True, prefix="test.releases")
    announcer = KafkaAnnouncer(stack.kafka, topic)
    fleet = fleet_factory(sink=announcer)

    def distiller_release(version: int, selftest_ok: bool = True) -> None:
        """What a distiller cycle does: store, then announce; the manager reads it."""
        manifest = releases.add(version, selftest_ok)
        announcer.publish(manifest)
        fleet.manager.on_release(manifest.to_bytes())
        fleet.pump()
        fleet.clock.advance(10)
        fleet.pump()

    distiller_release(2)
    distiller_release(3, selftest_ok=False)  # halts at canary: the manager announces 4
    distiller_release(5, selftest_ok=False)  # and 6, both with release 2's weights
    assert [fleet.manager.records[v].weights_of for v in (4, 6)] == [2, 2]

    kept = announced(stack.kafka, topic)
    assert sorted(kept) == sorted(f"{TARGET}/v{v}".encode() for v in range(2, 7))
    for key, manifest in kept.items():
        assert key == f"{manifest.target}/v{manifest.version}".encode()
        assert manifest == releases.store.manifest(manifest.version)  # profile included
