"""The release gate: does the candidate beat the current release on the new data without
forgetting the old, and does it survive quantisation?

Scores are accuracies: on held-out new samples against the teacher's label, on held-out
samples of earlier traffic kept in the replay memory against the teacher's label, on the
replay validation set against its gold label, and the candidate's integer model on the
held-out new samples. The decision is a pure function of the scores (unit-tested case by case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from models.errors import ConfigError


@dataclass(frozen=True)
class GateConfig:
    min_gain: float = 0.0  # candidate new-data accuracy must exceed the old one by more than this
    replay_tolerance: float = 0.02  # candidate replay accuracy may be this much below the old,
    replay_z: float = 1.645  # ... or up to replay_z standard errors of it (0: off)
    max_int8_drop: float = 0.05  # integer model may lose this much new-data accuracy vs float
    min_holdout: int = 10  # fewer held-out new samples than this: no decision possible
    memory_tolerance: float = 0.02  # candidate may be this much below the old on held-out
    # memory samples (checked when at least min_holdout of them exist), or more on few of them:
    memory_z: float = 1.645  # ... up to memory_z standard errors of the old accuracy (0: off)

    def __post_init__(self) -> None:
        tolerances = (self.min_gain, self.replay_tolerance, self.replay_z, self.max_int8_drop,
                      self.memory_tolerance, self.memory_z)  # fmt: skip
        if min(tolerances) < 0:
            raise ConfigError("gate tolerances must be >= 0")
        if self.min_holdout < 1:
            raise ConfigError(f"min_holdout must be >= 1, got {self.min_holdout}")


@dataclass(frozen=True)
class GateScores:
    holdout: int  # held-out new samples scored
    old_new: float  # current release (float) on held-out new samples, vs the teacher
    cand_new: float  # candidate (float) on the same
    old_replay: float | None = None  # current release on the replay validation set
    cand_replay: float | None = None  # candidate on the same (None: no replay set)
    replay: int = 0  # replay validation samples scored (0: unknown, the fixed tolerance only)
    cand_int8_new: float | None = None  # candidate's integer model on held-out new samples
    memory: int = 0  # held-out memory samples (earlier traffic) scored
    old_memory: float | None = None  # current release on them, vs the teacher
    cand_memory: float | None = None  # candidate on the same

    def metrics(self) -> dict[str, float]:
        """Flat names for the manifest and /metrics."""
        out = {"gate_holdout": float(self.holdout), "gate_new_accuracy_old": self.old_new,
               "gate_new_accuracy_candidate": self.cand_new}  # fmt: skip
        if self.old_replay is not None and self.cand_replay is not None:
            out["gate_replay_accuracy_old"] = self.old_replay
            out["gate_replay_accuracy_candidate"] = self.cand_replay
            if self.replay:
                out["gate_replay_holdout"] = float(self.replay)
        if self.cand_int8_new is not None:
            out["gate_new_accuracy_candidate_int8"] = self.cand_int8_new
        if self.old_memory is not None and self.cand_memory is not None:
            out["gate_memory_holdout"] = float(self.memory)
            out["gate_memory_accuracy_old"] = self.old_memory
            out["gate_memory_accuracy_candidate"] = self.cand_memory
        return out


@dataclass(frozen=True)
class GateResult:
    passed: bool
    scores: GateScores
    reasons: list[str] = field(default_factory=list)  # why it failed (empty when passed)


def decide(config: GateConfig, scores: GateScores) -> GateResult:
    """Pass when every check holds; every failed check is named in ``reasons``."""
    reasons = []
    if scores.holdout < config.min_holdout:
        reasons.append(f"only {scores.holdout} held-out new samples (< {config.min_holdout})")
    if not scores.cand_new > scores.old_new + config.min_gain:
        reasons.append(
            f"new-data accuracy {scores.cand_new:.4f} does not beat the current "
            f"{scores.old_new:.4f} + {config.min_gain}"
        )
    old_r, cand_r, int8 = scores.old_replay, scores.cand_replay, scores.cand_int8_new
    if old_r is not None and cand_r is not None:
        tolerance = allowed_drop(config.replay_tolerance, config.replay_z, old_r, scores.replay)
        if cand_r < old_r - tolerance:
            reasons.append(
                f"replay accuracy {cand_r:.4f} fell below the current "
                f"{old_r:.4f} - {tolerance:.4f} ({scores.replay or 'unknown'} samples)"
            )
    old_m, cand_m = scores.old_memory, scores.cand_memory
    if old_m is not None and cand_m is not None and scores.memory >= config.min_holdout:
        tolerance = allowed_drop(config.memory_tolerance, config.memory_z, old_m, scores.memory)
        if cand_m < old_m - tolerance:
            reasons.append(
                f"accuracy on earlier traffic {cand_m:.4f} fell below the current "
                f"{old_m:.4f} - {tolerance:.4f} ({scores.memory} held-out samples)"
            )
    if int8 is not None and int8 < scores.cand_new - config.max_int8_drop:
        reasons.append(
            f"int8 accuracy {int8:.4f} lost more than "
            f"{config.max_int8_drop} against float {scores.cand_new:.4f}"
        )
    return GateResult(passed=not reasons, scores=scores, reasons=reasons)


def allowed_drop(fixed: float, z: float, old: float, n: int) -> float:
    """How far below the current release's accuracy ``old`` on ``n`` samples (the held-out
    memory, or the replay validation set) the candidate may fall: ``fixed``, or ``z`` standard
    errors of ``old`` (binomial, sqrt(p (1 - p) / n)) when that is larger; ``fixed`` alone when
    ``n`` is unknown (0). Both sets can be a few dozen samples (the memory at a small label
    budget, the replay set of a label set with many classes), where a fixed 2 points is one or
    two samples: less than the noise, so every candidate would be rejected however much better
    it is on new data."""
    if n <= 0:
        return fixed
    return max(fixed, z * math.sqrt(old * (1 - old) / n))
