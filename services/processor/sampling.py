"""Which predictions of a window go to the teacher: pure selection logic.

With an uncertainty strategy a prediction is a *candidate* when its confidence is below the
low-confidence threshold, ranked by an uncertainty score (higher = more useful to label):

- ``least_confidence``: ``1 - p1``
- ``margin``: ``1 - (p1 - p2)`` (a small gap between the two best classes)
- ``entropy``: Shannon entropy of the top-k probabilities plus the unreported remainder as
  one extra bucket, divided by ``ln(k + 1)`` so it lies in [0, 1]

With ``random`` every prediction is a candidate and its score is a uniform number drawn from
its message id (:func:`random_score`), so keeping the best-scoring ones is a uniform sample
(bottom-k sampling: the same on every replica and after a restart, no RNG state). A share of
each window's budget can go to such a uniform *control sample* beside an uncertainty
strategy (the processor's ``random_share``): it also finds messages the student is sure of
and wrong about, which no uncertainty score ranks high.

:func:`select` then spends a per-window budget: identical texts are labeled once (the
best-scoring copy is kept), no device gets more than ``per_device_cap`` requests (a chatty
device cannot take the budget), and the budget is shared round-robin over the predicted
classes (stratification), each class giving its best remaining candidate in turn.

The processor keeps at most :func:`pool_limit` candidates per device and window with
:func:`keep_best` (the best-scoring ones), so memory stays bounded however chatty a device
is; a device can never get more than ``per_device_cap`` requests anyway, and the headroom
lets stratification still find other classes among its candidates.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from contract.schemas.labels import Strategy
from models.errors import ConfigError

StrategyName = Literal["least_confidence", "margin", "entropy", "random"]
STRATEGIES: tuple[str, ...] = ("least_confidence", "margin", "entropy")  # uncertainty scores

# The wire schema's name for each strategy (contract.schemas.labels.Strategy).
WIRE_STRATEGY: dict[str, Strategy] = {
    "least_confidence": "low_confidence",
    "margin": "margin",
    "entropy": "entropy",
    "random": "random",
}


RANDOM_SALT = "fleet-sampling:"  # independent of other hashes of the id (the distiller
# holds out samples by the SHA-256 of the bare message id: the same hash here would pick only
# ids it never holds out)


def random_score(message_id: str) -> float:
    """A uniform number in [0, 1) drawn from ``message_id`` (salted SHA-256; stable
    everywhere)."""
    digest = hashlib.sha256(f"{RANDOM_SALT}{message_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def uncertainty(strategy: str, probs: Sequence[float]) -> float:
    """Score of one prediction from its top-k probabilities (best first)."""
    if strategy not in STRATEGIES:
        raise ConfigError(f"unknown sampling strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
    if not probs:
        raise ConfigError("probs must hold at least the top-1 probability")
    p1 = probs[0]
    if strategy == "least_confidence":
        return 1.0 - p1
    if strategy == "margin":
        p2 = probs[1] if len(probs) > 1 else max(0.0, 1.0 - p1)
        return 1.0 - (p1 - p2)
    rest = max(0.0, 1.0 - math.fsum(probs))
    buckets = [p for p in (*probs, rest) if p > 0]
    entropy = -math.fsum(p * math.log(p) for p in buckets)
    return entropy / math.log(len(probs) + 1)


@dataclass(frozen=True)
class Candidate:
    """A low-confidence prediction that may be sent for labeling."""

    message_id: str
    device_id: str
    text: str
    label: str  # the student's predicted class (the stratum)
    score: float  # uncertainty under the configured strategy

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Candidate:
        return cls(**data)


def _rank_key(c: Candidate) -> tuple[float, str]:
    return (-c.score, c.message_id)  # best first; ties broken by id so selection is stable


def normalise_text(text: str) -> str:
    """Texts that differ only in surrounding or repeated whitespace are the same text."""
    return " ".join(text.split())


def pool_limit(per_device_cap: int) -> int:
    """How many candidates the processor keeps per device and window."""
    return 4 * per_device_cap  # headroom for duplicate texts and class stratification


def keep_best(pool: Iterable[Candidate], limit: int | None = None) -> list[Candidate]:
    """The ``limit`` (default all) best-scoring candidates of ``pool``, one per text."""
    best: dict[str, Candidate] = {}
    for c in pool:
        key = normalise_text(c.text)
        if key not in best or _rank_key(c) < _rank_key(best[key]):
            best[key] = c
    return sorted(best.values(), key=_rank_key)[:limit]


def select(
    candidates: Iterable[Candidate],
    budget: int,
    per_device_cap: int,
    taken: Sequence[Candidate] = (),
) -> list[Candidate]:
    """Spend ``budget`` on ``candidates``: dedup texts, cap devices, stratify over classes.
    ``taken`` were chosen before in the same window (their texts are not chosen again, and
    they count towards their devices' caps)."""
    if budget < 0 or per_device_cap < 1:
        raise ConfigError(
            f"budget must be >= 0 and per_device_cap >= 1 ({budget}, {per_device_cap})"
        )
    # 1. one candidate per text, the best-scoring copy, none already taken
    known = {normalise_text(c.text) for c in taken}
    unique = [c for c in keep_best(candidates) if normalise_text(c.text) not in known]
    # 2. per class, best first
    by_class: dict[str, list[Candidate]] = defaultdict(list)
    for c in unique:
        by_class[c.label].append(c)
    # classes whose best candidate is most uncertain go first in every round
    order = sorted(by_class, key=lambda label: _rank_key(by_class[label][0]))
    cursors = dict.fromkeys(order, 0)
    per_device: dict[str, int] = defaultdict(int)
    for c in taken:
        per_device[c.device_id] += 1
    chosen: list[Candidate] = []
    # 3. round-robin over classes, skipping candidates of devices at their cap
    while len(chosen) < budget:
        progressed = False
        for label in order:
            if len(chosen) >= budget:
                break
            queue = by_class[label]
            i = cursors[label]
            while i < len(queue) and per_device[queue[i].device_id] >= per_device_cap:
                i += 1
            if i < len(queue):
                chosen.append(queue[i])
                per_device[queue[i].device_id] += 1
                i += 1
                progressed = True
            cursors[label] = i
        if not progressed:
            break
    return chosen
