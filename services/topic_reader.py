"""Read a (usually compacted) Kafka topic from its start to the end it has now.

Releases, rollout records and the demo's version lookup all need "every record so far",
which kafka-python has no one call for: assign every partition, seek to the beginning, poll
until each position reaches the end offset taken at the start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from services.errors import ServiceError


def read_to_end(
    bootstrap: str,
    topic: str,
    *,
    timeout_s: float = 30.0,
    error: type[ServiceError] = ServiceError,
) -> Iterator[Any]:
    """Yield every non-tombstone record of ``topic`` up to its end offsets now (none when the
    topic does not exist). Kafka failures and the timeout raise ``error``."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    except KafkaError as exc:
        raise error(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not partitions:
            return
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise error(f"could not read {topic} to its end within {timeout_s} s")
            for batch in consumer.poll(timeout_ms=500).values():
                yield from (record for record in batch if record.value is not None)
    except KafkaError as exc:
        raise error(f"cannot read {topic}: {exc}") from exc
    finally:
        consumer.close()
