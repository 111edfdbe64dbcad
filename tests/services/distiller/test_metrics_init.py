"""Labeled counters exist at zero from the start, so increase() and alerts see the first
event (a series that appears with its first increment has no earlier sample)."""

from services.distiller.metrics import DistillerMetrics
from services.rollout.metrics import RolloutMetrics


def test_distiller_counters_start_at_zero():
    registry = DistillerMetrics.create().registry
    assert (
        registry.get_sample_value(
            "fleet_distiller_retrains_total", {"trigger": "drift", "outcome": "failed"}
        )
        == 0.0
    )
    assert (
        registry.get_sample_value("fleet_distiller_samples_skipped_total", {"reason": "invalid"})
        == 0.0
    )


def test_rollout_counters_start_at_zero():
    registry = RolloutMetrics.create().registry
    assert registry.get_sample_value("fleet_rollout_halts_total", {"cause": "timeout"}) == 0.0
    assert (
        registry.get_sample_value(
            "fleet_rollout_commands_total", {"command": "rollback", "result": "applied"}
        )
        == 0.0
    )
