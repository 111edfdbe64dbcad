"""The per-event and per-tick logic on dict tables (the faust tables' in-memory double)."""

from __future__ import annotations

import random

import pytest

from benchmarks.harness.stream_data import make_event, manifest
from services.processor.aggregator import Aggregator, dedup_key
from services.processor.drift import PSI_ALERT
from services.processor.metrics import ProcessorMetrics
from services.processor.releases import ReferenceStore
from services.processor.sampling import WIRE_STRATEGY
from services.processor.settings import ProcessorSettings


@pytest.fixture
def aggregator_factory():
    def make(**overrides) -> Aggregator:
        settings = ProcessorSettings(window_s=10, grace_s=1, metrics_port=0, **overrides)
        references = ReferenceStore()
        references.apply(manifest(3).to_bytes())
        return Aggregator(settings, ProcessorMetrics.create(), references, {}, {}, {}, {})

    return make


def _value(agg: Aggregator, name: str, **labels: str) -> float:
    return agg.metrics.registry.get_sample_value(name, labels) or 0.0


def test_duplicates_are_dropped_and_windows_close_after_grace(aggregator_factory):
    agg = aggregator_factory()
    rng = random.Random(0)
    events = [make_event(rng, f"d{i % 4}", i, 3, shifted=False) for i in range(200)]
    for e in events:
        assert agg.on_prediction(e, ts=1000.5, partition=0)
    assert not agg.on_prediction(events[0], ts=1001.0, partition=0)
    assert _value(agg, "fleet_processor_duplicates_total") == 1
    assert agg.on_tick(0, now=1010.5) == []  # end 1010 + grace 1 not reached
    assert agg.on_tick(1, now=1020.0) == []  # another partition's windows are not its own
    (closed,) = agg.on_tick(0, now=1011.0)
    assert closed.aggregate.events == 200
    assert closed.report is not None and closed.report.get("class_mix", "psi") < PSI_ALERT
    assert _value(agg, "fleet_processor_window_events", model_version="3") == 200
    assert agg.windows == {} and agg.pools == {}
    # a late event for the closed window does not reopen it
    agg.on_prediction(make_event(rng, "d9", 999, 3, shifted=False), ts=1005.0, partition=0)
    assert agg.windows == {}
    assert _value(agg, "fleet_processor_late_events_total", model_version="3") == 1


def test_shifted_window_drifts_and_requests_respect_budget_and_cap(aggregator_factory):
    agg = aggregator_factory(budget_per_window=10, per_device_cap=3)
    rng = random.Random(1)
    for i in range(300):
        device = "chatty" if i % 2 else f"d{i % 7}"
        agg.on_prediction(make_event(rng, device, i, 3, shifted=True), ts=2000.0, partition=1)
    (closed,) = agg.on_tick(1, now=2011.0)
    assert closed.report.get("class_mix", "psi") > PSI_ALERT
    assert closed.report.get("confidence", "psi") > PSI_ALERT
    assert (
        _value(
            agg, "fleet_processor_drift", model_version="3", feature="class_mix", statistic="psi"
        )
        > PSI_ALERT
    )
    assert len(closed.requests) == 10
    assert sum(r.device_id == "chatty" for r in closed.requests) <= 3
    default = WIRE_STRATEGY[ProcessorSettings().strategy]
    assert all(r.strategy == default and r.window.start == 2000.0 for r in closed.requests)
    assert len({r.text for r in closed.requests}) == 10


def test_unknown_release_still_closes_the_window(aggregator_factory):
    agg = aggregator_factory()
    agg.on_prediction(make_event(random.Random(2), "d1", 0, 7, shifted=False), ts=50.0, partition=0)
    (closed,) = agg.on_tick(0, now=100.0)
    assert closed.report is None
    assert _value(agg, "fleet_processor_windows_without_reference_total", model_version="7") == 1


def test_dedup_entries_expire(aggregator_factory):
    agg = aggregator_factory(dedup_ttl_s=100, cleanup_every_s=1)
    event = make_event(random.Random(3), "d1", 0, 3, shifted=False)
    agg.on_prediction(event, ts=10.0, partition=0)
    agg.on_tick(0, now=50.0)
    assert dedup_key(event) in agg.seen
    agg.on_tick(0, now=200.0)
    assert dedup_key(event) not in agg.seen and agg.closed == {}


def test_one_device_cannot_pre_empt_another_devices_message_id(aggregator_factory):
    agg = aggregator_factory()
    rng = random.Random(7)
    victim = make_event(rng, "dev-0001", 5, 3, shifted=False)
    squatter = victim.model_copy(update={"device_id": "dev-0002"})  # the same, predictable id
    assert agg.on_prediction(squatter, ts=1000.5, partition=0, offset=0)
    assert agg.on_prediction(victim, ts=1000.5, partition=0, offset=1)  # still counted
    assert not agg.on_prediction(victim, ts=1000.5, partition=0, offset=2)  # its own duplicate
    assert _window_events(agg) == 2
    assert _value(agg, "fleet_processor_duplicates_total") == 1


def _window_events(agg: Aggregator) -> int:
    (raw,) = agg.windows.values()
    return raw["events"]


@pytest.mark.parametrize("lost", ["window", "seen"])
def test_a_crash_that_loses_one_tables_writes_neither_loses_nor_double_counts(
    aggregator_factory, lost
):
    """faust flushes each table's changelog on its own: after a SIGKILL the restored
    ``seen`` and ``windows`` can disagree about the last records before the crash."""
    agg = aggregator_factory()
    rng = random.Random(5)
    events = [make_event(rng, f"d{i % 3}", i, 3, shifted=False) for i in range(10)]
    for offset, e in enumerate(events[:6]):
        assert agg.on_prediction(e, ts=1000.5, partition=1, offset=offset)
    snapshot = {"window": dict(agg.windows), "seen": dict(agg.seen)}
    for offset, e in enumerate(events[6:], start=6):
        assert agg.on_prediction(e, ts=1000.5, partition=1, offset=offset)
    # the crash: one table's writes for offsets 6..9 never reached its changelog
    if lost == "window":
        agg.windows.clear()
        agg.windows.update(snapshot["window"])
    else:
        agg.seen.clear()
        agg.seen.update(snapshot["seen"])
    # the restarted worker reads again from the committed offset (here 4)
    for offset, e in enumerate(events[4:], start=4):
        agg.on_prediction(e, ts=1000.5, partition=1, offset=offset)
    assert _window_events(agg) == 10
    assert set(agg.seen) == {dedup_key(e) for e in events}
    # an upstream duplicate (same id, another record) is still dropped
    assert not agg.on_prediction(events[8], ts=1000.5, partition=1, offset=42)
    assert _window_events(agg) == 10


def test_a_window_closed_before_a_crash_is_not_closed_twice(aggregator_factory):
    agg = aggregator_factory()
    event = make_event(random.Random(6), "d1", 0, 3, shifted=False)
    agg.on_prediction(event, ts=1000.5, partition=0, offset=0)
    snapshot = dict(agg.windows)
    assert len(agg.on_tick(0, now=1011.0)) == 1
    agg.windows.update(snapshot)  # the window's deletion was lost, its closing was not
    assert agg.on_tick(0, now=1012.0) == []
    assert agg.windows == {}
    # replaying the record does not count it as late
    assert not agg.on_prediction(event, ts=1000.5, partition=0, offset=0)
    assert _value(agg, "fleet_processor_late_events_total", model_version="3") == 0


def test_entities_of_tagging_releases_are_counted_per_release_and_type(aggregator_factory):
    from contract.schemas import EntitySpan, examples

    agg = aggregator_factory()
    tagged = examples.prediction_event_v2("d1", seq=3)  # one ID entity
    bare = tagged.model_copy(update={"message_id": "d1-4", "entities": []})
    place = EntitySpan(type="PLACE", start=0, end=2, text=tagged.text[:2])
    both = tagged.model_copy(update={"message_id": "d1-5", "entities": [place, *tagged.entities]})
    untagged = examples.prediction_event("d2", seq=9)  # a v1 event: no tagging head
    for event in (tagged, bare, both, untagged):
        assert agg.on_prediction(event, ts=1000.5, partition=0)
    assert _value(agg, "fleet_processor_tagged_predictions_total", model_version="1") == 3
    assert _value(agg, "fleet_processor_predictions_with_entities_total", model_version="1") == 2
    assert _value(agg, "fleet_processor_entities_total", model_version="1", entity_type="ID") == 2
    assert (
        _value(agg, "fleet_processor_entities_total", model_version="1", entity_type="PLACE") == 1
    )
    assert _value(agg, "fleet_processor_events_total", model_version="1") == 4


def test_random_strategy_samples_confident_predictions_too_uniformly(aggregator_factory):
    agg = aggregator_factory(strategy="random", budget_per_window=40, per_device_cap=40)
    rng = random.Random(3)
    events = [make_event(rng, f"d{i % 5}", i, 3, shifted=False) for i in range(400)]
    for e in events:
        agg.on_prediction(e, ts=3000.0, partition=0)
    (closed,) = agg.on_tick(0, now=3011.0)
    assert len(closed.requests) == 40
    assert all(r.strategy == "random" for r in closed.requests)
    confident = {e.message_id for e in events if e.confidence >= agg.settings.low_confidence}
    chosen = {r.message_id for r in closed.requests}
    # most reference traffic is confident, so a uniform sample is mostly confident too
    assert len(chosen & confident) > 20
    assert agg.pools == {}
    assert (
        _value(agg, "fleet_processor_label_requests_total", model_version="3", strategy="random")
        == 40
    )


def test_random_share_splits_the_budget_between_uncertain_and_control(aggregator_factory):
    agg = aggregator_factory(budget_per_window=10, per_device_cap=10, random_share=0.3)
    rng = random.Random(4)
    for i in range(300):
        agg.on_prediction(make_event(rng, f"d{i % 6}", i, 3, shifted=True), ts=4000.0, partition=0)
    (closed,) = agg.on_tick(0, now=4011.0)
    kinds = [r.strategy for r in closed.requests]
    default = ProcessorSettings().strategy
    assert kinds.count("random") == 3 and kinds.count(WIRE_STRATEGY[default]) == 7
    assert len({r.text for r in closed.requests}) == 10  # never the same text twice
    labels = {"model_version": "3"}
    assert _value(agg, "fleet_processor_label_requests_total", strategy="random", **labels) == 3
    assert _value(agg, "fleet_processor_label_requests_total", strategy=default, **labels) == 7
