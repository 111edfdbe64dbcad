"""benchmarks/distiller_cycle on a tiny student and corpus: it runs end to end and reports
release 1 and both candidates on both phases."""

from __future__ import annotations

from benchmarks.distiller_cycle import run
from tests.services.distiller.factories import TINY


def test_benchmark_reports_both_variants_on_both_phases():
    result = run(train_per_phase=200, student_steps=20, steps=10, labels_budget=80, student=TINY)
    assert result["setup"]["labeled_samples"] == 80 + 8  # least confident + control sample
    keys = {f"phase{p}_test_accuracy{s}" for p in (0, 2) for s in ("", "_int8")}
    assert set(result["v1"]) == keys
    for name in ("with_replay", "without_replay"):
        variant = result[name]
        assert variant["outcome"] in ("published", "rejected_by_gate")
        assert variant["gate"]["train_steps"] == 10
        if variant["outcome"] == "published":
            assert set(variant["v2"]) == keys
    assert result["with_replay"]["gate"]["train_replay"] > 0
    assert result["without_replay"]["gate"]["train_replay"] == 0
