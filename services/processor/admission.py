"""What a device may make the processor keep: device-controlled values never become keys of
their own.

- Only known releases (their profile is on ``model.releases``) and their label sets are
  keyed: a prediction whose ``model_version`` is not a known release, or whose labels are not
  in that release's label set, is dropped with its reason and counted in one series per
  reason (``fleet_processor_dropped_total{reason}``), never as a window, a table key or a
  metric label of its own. So a device inventing versions or labels grows nothing.
- The same for entity types (the ``entity_type`` label of ``fleet_processor_entities_total``):
  a prediction naming a type outside the tagger's (``models.data.spans.ENTITY_TYPES``, the
  types every release's tagger is converted with, ``models.inttagger.quantize_tagger``) is
  dropped as ``unknown_entity_type``.
- A per-device labeling budget across versions (:class:`DeviceQuota`): a device gives at
  most ``per_device_cap`` labeling candidates per window whatever versions it claims (each
  version's window caps it again at selection). It is kept where all of a device's records
  pass, the ingest agent of ``fleet.predictions`` (keyed by device, so one worker sees all of
  a device's records), in memory: after a restart a device may give its cap once more for
  the window then open, which bounds the cost of not persisting it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from contract.schemas import PredictionEvent
from models.data.spans import ENTITY_TYPES
from services.processor.releases import ReferenceStore
from services.processor.window import window_start

if TYPE_CHECKING:
    from services.processor.metrics import ProcessorMetrics
    from services.processor.settings import ProcessorSettings

log = logging.getLogger(__name__)

UNKNOWN_RELEASE = "unknown_release"
UNKNOWN_LABEL = "unknown_label"
UNKNOWN_ENTITY_TYPE = "unknown_entity_type"
DROP_REASONS = (UNKNOWN_RELEASE, UNKNOWN_LABEL, UNKNOWN_ENTITY_TYPE)


def refusal(event: PredictionEvent, references: ReferenceStore) -> str | None:
    """Why ``event`` must not be counted (one of :data:`DROP_REASONS`), or None."""
    profile = references.get(event.model_version)
    if profile is None:
        return UNKNOWN_RELEASE
    labels = profile.class_mix
    if any(item.label not in labels for item in event.topk):  # topk[0] is the label
        return UNKNOWN_LABEL
    if any(entity.type not in ENTITY_TYPES for entity in getattr(event, "entities", ())):
        return UNKNOWN_ENTITY_TYPE
    return None


class DeviceQuota:
    """Labeling candidates per device and window, across model versions."""

    def __init__(self, per_device_cap: int) -> None:
        self.cap = per_device_cap
        self.used: dict[tuple[str, float], int] = {}

    def take(self, device_id: str, start: float) -> bool:
        """One candidate of ``device_id`` in the window at ``start``; False once its cap is
        spent (the prediction still counts, it is just not offered for labeling)."""
        key = (device_id, start)
        used = self.used.get(key, 0)
        if used >= self.cap:
            return False
        self.used[key] = used + 1
        return True

    def expire(self, before: float) -> None:
        """Forget the windows that started before ``before``."""
        for key in [k for k in self.used if k[1] < before]:
            del self.used[key]


QUOTA_SWEEP_AT = 10_000  # device/window quota entries before old windows are swept


@dataclass
class Admission:
    """The ingest agent's check of one prediction: is it counted, may it be sampled."""

    settings: ProcessorSettings
    references: ReferenceStore
    metrics: ProcessorMetrics
    quota: DeviceQuota = field(init=False)
    drops: dict[str, int] = field(default_factory=dict)  # per reason, for the log

    def __post_init__(self) -> None:
        self.quota = DeviceQuota(self.settings.per_device_cap)

    def check(self, event: PredictionEvent, ts: float) -> tuple[bool, bool]:
        """(counted, may be offered for labeling) for ``event`` recorded at ``ts``."""
        reason = refusal(event, self.references)
        if reason is not None:
            self.metrics.dropped.labels(reason).inc()
            self.drops[reason] = self.drops.get(reason, 0) + 1
            if self.drops[reason] % 1000 == 1:  # the first, then every 1000th
                log.warning("prediction %s of %s (model_version %d) dropped: %s",
                            event.message_id, event.device_id, event.model_version,
                            reason)  # fmt: skip
            return False, False
        if event.confidence >= self.settings.low_confidence:
            return True, True  # not a labeling candidate anyway
        s = self.settings
        may_sample = self.quota.take(event.device_id, window_start(ts, s.window_s))
        if len(self.quota.used) > QUOTA_SWEEP_AT:
            self.quota.expire(time.time() - 2 * s.window_s - s.grace_s)
        return True, may_sample
