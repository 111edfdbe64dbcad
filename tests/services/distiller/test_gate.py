"""Gate decisions: every check, alone and together."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from services.distiller.gate import GateConfig, GateScores, allowed_drop, decide

CONFIG = GateConfig(min_gain=0.01, replay_tolerance=0.02, max_int8_drop=0.03, min_holdout=10)


def scores(**kw) -> GateScores:
    base = dict(holdout=50, old_new=0.60, cand_new=0.80, old_replay=0.90, cand_replay=0.89,
                cand_int8_new=0.79)  # fmt: skip
    return GateScores(**{**base, **kw})


def test_accepts_a_better_candidate_that_forgets_within_tolerance():
    result = decide(CONFIG, scores())
    assert result.passed and result.reasons == []


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"cand_new": 0.605}, "new-data accuracy"),  # gains less than min_gain
        ({"cand_new": 0.60}, "new-data accuracy"),  # equal is not better
        ({"cand_replay": 0.87}, "replay accuracy"),  # forgot more than the tolerance
        ({"cand_int8_new": 0.76}, "int8 accuracy"),  # quantisation cost too much
        ({"holdout": 9}, "held-out new samples"),
        ({"memory": 400, "old_memory": 0.9, "cand_memory": 0.87}, "earlier traffic"),
    ],
)
def test_rejects_and_names_the_failed_check(change, needle):
    result = decide(CONFIG, scores(**change))
    assert not result.passed
    assert len(result.reasons) == 1 and needle in result.reasons[0]


def test_replay_and_int8_checks_are_skipped_without_scores():
    result = decide(CONFIG, scores(old_replay=None, cand_replay=None, cand_int8_new=None))
    assert result.passed
    assert "gate_replay_accuracy_old" not in result.scores.metrics()


def test_earlier_traffic_is_checked_only_with_enough_held_out_samples():
    forgot = {"old_memory": 0.9, "cand_memory": 0.5}
    assert decide(CONFIG, scores(memory=9, **forgot)).passed
    assert not decide(CONFIG, scores(memory=10, **forgot)).passed
    assert decide(CONFIG, scores(memory=10, old_memory=0.9, cand_memory=0.885)).passed
    metrics = scores(memory=12, old_memory=0.9, cand_memory=0.95).metrics()
    assert metrics["gate_memory_holdout"] == 12.0
    assert metrics["gate_memory_accuracy_candidate"] == 0.95


def test_the_earlier_traffic_tolerance_widens_on_few_held_out_samples():
    # 31 samples at 0.774: 1.645 standard errors are 12.4 points; 400 samples: 3.4 points
    assert allowed_drop(0.02, 1.645, 0.774, 31) == pytest.approx(0.1236, abs=1e-4)
    assert decide(CONFIG, scores(memory=31, old_memory=0.774, cand_memory=0.677)).passed
    assert not decide(CONFIG, scores(memory=31, old_memory=0.774, cand_memory=0.6)).passed
    assert not decide(CONFIG, scores(memory=400, old_memory=0.774, cand_memory=0.677)).passed
    # never below the fixed tolerance, and memory_z = 0 keeps only that
    assert allowed_drop(CONFIG.memory_tolerance, CONFIG.memory_z, 1.0, 31) == 0.02
    fixed = GateConfig(memory_z=0.0)
    assert not decide(fixed, scores(memory=31, old_memory=0.774, cand_memory=0.677)).passed
    with pytest.raises(ConfigError):
        GateConfig(memory_z=-1.0)


def test_every_failed_check_is_reported():
    result = decide(CONFIG, scores(cand_new=0.5, cand_replay=0.5, holdout=1))
    assert len(result.reasons) == 3


def test_metrics_are_flat_floats():
    metrics = scores().metrics()
    assert metrics["gate_new_accuracy_candidate"] == 0.80
    assert metrics["gate_replay_accuracy_old"] == 0.90
    assert all(isinstance(v, float) for v in metrics.values())


def test_rejects_negative_tolerances():
    with pytest.raises(ConfigError):
        GateConfig(replay_tolerance=-0.1)


def test_the_replay_tolerance_widens_on_a_small_replay_set():
    # 0.878 -> 0.831 on 120 replay samples: 4.7 points, within 1.645 standard errors (4.9);
    # on 1 000 samples (1.7 points) or with replay_z = 0 (2 points) it is forgetting
    drop = {"old_replay": 0.878, "cand_replay": 0.831}
    assert allowed_drop(0.02, 1.645, 0.878, 120) == pytest.approx(0.0491, abs=1e-4)
    assert decide(CONFIG, scores(replay=120, **drop)).passed
    assert not decide(CONFIG, scores(replay=1000, **drop)).passed
    assert not decide(GateConfig(replay_z=0.0), scores(replay=120, **drop)).passed
    # without the sample count only the fixed tolerance applies
    reasons = decide(CONFIG, scores(**drop)).reasons
    assert len(reasons) == 1 and "unknown samples" in reasons[0]
    assert scores(replay=120).metrics()["gate_replay_holdout"] == 120.0
    with pytest.raises(ConfigError):
        GateConfig(replay_z=-1.0)
