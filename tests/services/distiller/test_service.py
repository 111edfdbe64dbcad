"""The service on in-memory doubles: ingest counts, command dedup, triggers, failures."""

from __future__ import annotations

import time

from contract.schemas import Halt, Redistill
from services.distiller.metrics import DistillerMetrics
from services.distiller.samples import MemorySampleStore
from services.distiller.service import DistillerService
from services.distiller.settings import DistillerSettings
from services.distiller.triggers import MemoryDrift
from services.releases.announce import MemoryAnnouncer
from services.releases.store import ReleaseStore
from tests.services.distiller.factories import examples, labeled

PHASE2 = sorted({label for _, label in examples(2, "train")})


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def service_factory(releases, key, publisher=None, drift=None, **settings):
    s = DistillerSettings(
        max_steps=20, lr=5e-3, interval_s=100, min_new_samples=100, drift_poll_s=1,
        drift_cooldown_s=1000, drift_min_new_samples=10, gate_min_gain=0.0, **settings,
    )  # fmt: skip
    clock = Clock()
    service = DistillerService(
        s, MemorySampleStore(), releases, None, key, publisher or MemoryAnnouncer(), drift,
        DistillerMetrics.create(), clock=clock,
    )  # fmt: skip
    return service, clock


def value(service: DistillerService, name: str, **labels: str) -> float:
    got = service.metrics.registry.get_sample_value(name, labels)
    return 0.0 if got is None else got


def command(cls=Redistill, command_id: str = "c-1", **kw) -> bytes:
    return cls(command_id=command_id, issued_by="ops", ts=time.time(), **kw).to_bytes()


def test_ingest_counts_new_duplicate_and_invalid_records(release_factory):
    service, _ = service_factory(*release_factory())
    raw = [s.to_bytes() for s in labeled(examples(2, "train")[:20], PHASE2)]
    service.ingest([*raw, raw[0], b"{not json", b'{"message_id": "x"}'], [])
    service.ingest(raw[:5], [])
    assert service.samples.count() == 20
    assert value(service, "fleet_distiller_samples_stored_total") == 20
    assert value(service, "fleet_distiller_samples_skipped_total", reason="duplicate") == 6
    assert value(service, "fleet_distiller_samples_skipped_total", reason="invalid") == 2
    assert value(service, "fleet_distiller_samples") == 20


def test_each_redistill_runs_once_and_other_commands_are_ignored(release_factory):
    releases, key = release_factory()
    service, _ = service_factory(releases, key)
    service.ingest([s.to_bytes() for s in labeled(examples(2, "train")[:200], PHASE2)], [])
    service.ingest([], [command(max_steps=5), command(), command(Halt, "h-1"), b"junk"])
    service.ingest([], [command()])  # redelivered after a restart
    assert value(service, "fleet_distiller_commands_total", outcome="accepted") == 1
    assert value(service, "fleet_distiller_commands_total", outcome="duplicate") == 2
    assert value(service, "fleet_distiller_commands_total", outcome="ignored") == 1
    assert value(service, "fleet_distiller_commands_total", outcome="invalid") == 1

    result = service.tick()
    assert result is not None and result.trigger == "ops"
    assert result.metrics["train_steps"] == 5  # the command's cap
    assert service.tick() is None  # acted on once
    outcome = result.outcome
    assert value(service, "fleet_distiller_retrains_total", trigger="ops", outcome=outcome) == 1
    assert value(service, "fleet_distiller_cycle_seconds_count") == 1
    assert value(service, "fleet_distiller_gate", metric="holdout") > 0


def test_schedule_and_drift_triggers(release_factory):
    releases, key = release_factory()
    drift = MemoryDrift()
    service, clock = service_factory(releases, key, drift=drift)
    service.ingest([s.to_bytes() for s in labeled(examples(2, "train")[:60], PHASE2)], [])
    clock.now = 50
    assert service.tick() is None  # drift unknown, schedule not due
    drift.values[1] = 0.4
    clock.now = 60
    result = service.tick()
    assert result is not None and result.trigger == "drift"
    assert value(service, "fleet_distiller_drift") == 0.4

    service.ingest([s.to_bytes() for s in labeled(examples(2, "valid"), PHASE2, prefix="b")], [])
    clock.now = 200
    assert service.samples.new_count() >= 100
    result = service.tick()
    assert result is not None and result.trigger == "schedule"


def test_a_failing_cycle_is_counted_and_the_service_goes_on(release_factory, tmp_path):
    _, key = release_factory()
    empty = ReleaseStore(tmp_path / "no-releases")
    service, _ = service_factory(empty, key)
    service.ingest([s.to_bytes() for s in labeled(examples(2, "train")[:30], PHASE2)], [])
    service.ingest([], [command()])
    assert service.tick() is None
    assert value(service, "fleet_distiller_retrains_total", trigger="ops", outcome="failed") == 1
    assert service.samples.pending_commands() == []  # acted on, not retried forever
    assert service.run_cycle() is None
    assert value(service, "fleet_distiller_retrains_total", trigger="manual", outcome="failed") == 1


def test_an_unacknowledged_release_is_published_before_anything_else(release_factory):
    releases, key = release_factory()
    publisher = MemoryAnnouncer(fail=True)
    service, _ = service_factory(releases, key, publisher=publisher)
    service.ingest([s.to_bytes() for s in labeled(examples(2, "train")[:300], PHASE2)], [])
    assert service.run_cycle() is None
    assert service.unpublished == 2 and releases.versions() == [1, 2]
    assert value(service, "fleet_distiller_publish_failures_total") == 1
    service.ingest([], [command()])
    assert service.tick() is None  # still failing: no cycle on top of it
    assert service.samples.pending_commands() != []
    publisher.fail = False
    service.tick()
    assert publisher.published[0].version == 2
    assert value(service, "fleet_distiller_last_published_version") >= 2


def test_an_unexpected_error_in_a_cycle_is_counted_not_raised(release_factory, monkeypatch):
    import services.distiller.service as service_module

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    service, _ = service_factory(*release_factory())
    monkeypatch.setattr(service_module, "run_cycle", broken)
    assert service.run_cycle() is None
    assert value(service, "fleet_distiller_retrains_total", trigger="manual", outcome="failed") == 1
