"""Prediction traffic for processor tests: like the release's reference, or shifted."""

from __future__ import annotations

import random
import time

from contract.schemas import ConfidenceHistogram, LabelProb, PredictionEvent, ReferenceProfile
from contract.schemas.examples import LABELS, release_manifest

REFERENCE_MIX = (0.4, 0.3, 0.1, 0.1, 0.1)  # over LABELS
SHIFTED_MIX = (0.05, 0.05, 0.1, 0.2, 0.6)
EDGES = [0.0, 0.25, 0.5, 0.75, 1.0]
REFERENCE_CONF = [0.05, 0.1, 0.25, 0.6]
SHIFTED_CONF = [0.3, 0.4, 0.2, 0.1]


def reference_profile() -> ReferenceProfile:
    return ReferenceProfile(
        class_mix=dict(zip(LABELS, REFERENCE_MIX, strict=True)),
        confidence=ConfidenceHistogram(edges=EDGES, frequencies=REFERENCE_CONF),
    )


def manifest(version: int):
    return release_manifest(version).model_copy(update={"reference_profile": reference_profile()})


def make_event(
    rng: random.Random,
    device_id: str,
    seq: int,
    model_version: int,
    shifted: bool,
    text: str | None = None,
) -> PredictionEvent:
    mix = SHIFTED_MIX if shifted else REFERENCE_MIX
    conf = SHIFTED_CONF if shifted else REFERENCE_CONF
    label = rng.choices(LABELS, weights=mix)[0]
    b = rng.choices(range(len(conf)), weights=conf)[0]
    p1 = round(max(0.21, rng.uniform(EDGES[b], EDGES[b + 1]) - 1e-6), 4)
    others = [x for x in LABELS if x != label]
    p2 = round(min(p1, (1 - p1) * 0.6), 4)
    p3 = round(min(p2, (1 - p1 - p2) * 0.5), 4)
    topk = [
        LabelProb(label=label, prob=p1),
        LabelProb(label=others[0], prob=p2),
        LabelProb(label=others[1], prob=p3),
    ]
    return PredictionEvent(
        device_id=device_id,
        seq=seq,
        message_id=f"{device_id}-v{model_version}-{seq}",
        text=text if text is not None else f"{device_id} 运单{seq:06d}状态更新",
        label=label,
        confidence=p1,
        topk=topk,
        model_version=model_version,
        latency_us=rng.randint(1500, 4000),
        ts=time.time(),
    )
