"""Window alignment and the JSON round trip of the table value."""

from __future__ import annotations

import random

from benchmarks.harness.stream_data import make_event
from services.processor.window import (
    CONFIDENCE_BINS,
    WindowAggregate,
    confidence_bin,
    window_key,
    window_start,
)


def test_windows_are_aligned_on_multiples_of_their_size():
    assert window_start(119.99, 60) == 60
    assert window_start(120.0, 60) == 120
    assert window_start(7.5, 2.5) == 7.5
    assert window_key(3, 120.0) == "3|120.000"


def test_confidence_bins_cover_the_closed_unit_interval():
    assert confidence_bin(0.0) == 0
    assert confidence_bin(0.999) == CONFIDENCE_BINS - 1
    assert confidence_bin(1.0) == CONFIDENCE_BINS - 1


def test_aggregate_survives_the_json_round_trip():
    rng = random.Random(0)
    agg = WindowAggregate(model_version=3, start=60.0, end=120.0, partition=1)
    events = [make_event(rng, f"d{i % 3}", i, 3, shifted=i % 2 == 0) for i in range(50)]
    for e in events:
        agg.add(e, low_confidence=e.confidence < 0.6)
        agg.note_candidate_device(e.device_id)
    back = WindowAggregate.from_json(agg.to_json())
    assert back == agg
    assert back.events == 50 and sum(back.fine_confidence()) == 50
    assert sum(back.class_counts.values()) == 50
    assert back.candidate_devices == ["d0", "d1", "d2"]
    assert back.low_confidence_ratio == sum(e.confidence < 0.6 for e in events) / 50
    assert back.latency_max_us == max(e.latency_us for e in events)
