"""Recent prediction texts: what the devices see now, for a new release's reference profile.

The held-out teacher-labeled samples are mostly messages the devices were unsure of (the
processor samples low confidence), so a profile computed on them over-represents hard
messages, and drift measured against it after the rollout stays high however good the
release is. The newest predictions in ``fleet.predictions`` are the current traffic, and a
profile needs no labels: the release's own predictions on them are the profile.
"""

from __future__ import annotations

from contract.errors import ValidationError
from contract.schemas import parse_prediction
from services.errors import ServiceError
from services.security.kafka import KafkaAccess
from services.topic_reader import read_to_end


class TrafficError(ServiceError):
    """Recent predictions cannot be read."""


def recent_texts(kafka: KafkaAccess, topic: str, n: int, timeout_s: float = 30.0) -> list[str]:
    """The texts of up to ``n`` newest predictions (about ``n / partitions`` from each
    partition; duplicate message ids once, invalid records skipped)."""
    if n <= 0:
        return []
    texts: dict[str, str] = {}
    for record in read_to_end(kafka, topic, timeout_s=timeout_s, error=TrafficError, newest=n):
        try:
            event = parse_prediction(record.value)
        except ValidationError:
            continue
        texts[event.message_id] = event.text
    return list(texts.values())[:n]
