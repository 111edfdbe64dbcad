"""Recent prediction texts: what the devices see now, for a new release's reference profile.

The held-out teacher-labelled samples are mostly messages the devices were unsure of (the
processor samples low confidence), so a profile computed on them over-represents hard
messages, and drift measured against it after the rollout stays high however good the
release is. The newest predictions in ``fleet.predictions`` are the current traffic, and a
profile needs no labels: the release's own predictions on them are the profile.
"""

from __future__ import annotations

import logging
import math
import time

from services.errors import ServiceError, ValidationError
from services.schemas import parse_prediction

log = logging.getLogger(__name__)


class TrafficError(ServiceError):
    """Recent predictions cannot be read."""


def recent_texts(bootstrap: str, topic: str, n: int, timeout_s: float = 30.0) -> list[str]:
    """The texts of up to ``n`` newest predictions (about ``n / partitions`` from each
    partition; duplicate message ids once, invalid records skipped)."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    except KafkaError as exc:
        raise TrafficError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    texts: dict[str, str] = {}
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions or n <= 0:
            return []
        consumer.assign(partitions)
        begin, end = consumer.beginning_offsets(partitions), consumer.end_offsets(partitions)
        per_partition = math.ceil(n / len(partitions))
        for tp in partitions:
            consumer.seek(tp, max(begin[tp], end[tp] - per_partition))
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            if time.monotonic() > deadline:
                raise TrafficError(f"could not read the newest {n} records of {topic} in time")
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    if record.offset >= end[TopicPartition(record.topic, record.partition)]:
                        continue  # arrived after we looked: not part of the sample
                    try:
                        event = parse_prediction(record.value)
                    except ValidationError:
                        continue
                    texts[event.message_id] = event.text
    except KafkaError as exc:
        raise TrafficError(f"cannot read {topic}: {exc}") from exc
    finally:
        consumer.close()
    return list(texts.values())[:n]
