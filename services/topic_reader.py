"""Read a Kafka topic up to the end it has now: from its start, or only its newest records.

Releases, rollout records and the demo's version lookup need "every record so far", the
distiller's reference profile "the newest n"; kafka-python has no one call for either:
assign every partition, seek, poll until each position reaches the end offset taken at the
start.
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
    newest: int | None = None,
) -> Iterator[Any]:
    """Yield every non-tombstone record of ``topic`` up to its end offsets now (none when the
    topic does not exist), or only about the ``newest`` (split evenly over the partitions).
    Kafka failures and the timeout raise ``error``."""
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
        ends = consumer.end_offsets(partitions)
        if newest is None:
            consumer.seek_to_beginning()
        else:
            begins = consumer.beginning_offsets(partitions)
            per_partition = -(-newest // len(partitions))  # ceil
            for tp in partitions:
                consumer.seek(tp, max(begins[tp], ends[tp] - per_partition))
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                raise error(f"could not read {topic} to its end within {timeout_s} s")
            for tp, batch in consumer.poll(timeout_ms=500).items():
                # records that arrived after the end offsets were taken are not "now"
                yield from (r for r in batch if r.value is not None and r.offset < ends[tp])
    except KafkaError as exc:
        raise error(f"cannot read {topic}: {exc}") from exc
    finally:
        consumer.close()
