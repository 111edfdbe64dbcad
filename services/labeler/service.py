"""The labeler loop: consume label requests, label new ones in batches, produce samples,
then commit.

Idempotent by message id: the ids already in ``distill.labeled`` are read back on start
(:func:`labelled_ids`), and every id labelled since is added, so a redelivered request is
skipped. Offsets are committed only after every produced sample was acknowledged by Kafka
(``acks=all``); when the teacher or the produce fails the consumer seeks back to the start
of the batch and tries again after a pause.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.errors import ValidationError
from services.labeler.settings import LabelerSettings
from services.labeler.teacher import Labeler, LabelerError
from services.schemas import (
    LabelledSample,
    LabelRequest,
    parse_label_request,
    parse_labelled_sample,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelerMetrics:
    registry: CollectorRegistry
    labels: Counter  # samples produced (rate = labels per second)
    skipped: Counter  # requests not labelled, by reason (duplicate, invalid)
    failures: Counter  # batches retried, by stage (teacher, produce)
    backlog: Gauge  # requests in the topic not yet committed by this group
    batch_seconds: Histogram  # teacher time per batch
    seen: Gauge  # message ids known to be labelled

    @classmethod
    def create(cls) -> LabelerMetrics:
        r = CollectorRegistry()
        return cls(
            registry=r,
            labels=Counter("fleet_labeler_labels", "Samples labelled", ["teacher_id"], registry=r),
            skipped=Counter("fleet_labeler_skipped", "Requests skipped", ["reason"], registry=r),
            failures=Counter("fleet_labeler_failures", "Batches retried", ["stage"], registry=r),
            backlog=Gauge(
                "fleet_labeler_backlog", "Requests waiting (end - committed)", registry=r
            ),
            batch_seconds=Histogram(
                "fleet_labeler_batch_seconds",
                "Teacher inference time per batch",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                registry=r,
            ),
            seen=Gauge("fleet_labeler_seen_ids", "Message ids already labelled", registry=r),
        )


def new_requests(
    raw_values: Iterable[bytes], seen: set[str], metrics: LabelerMetrics
) -> list[LabelRequest]:
    """Parse a polled batch; drop invalid records and ids labelled before (or twice here)."""
    fresh: dict[str, LabelRequest] = {}
    for raw in raw_values:
        try:
            request = parse_label_request(raw)
        except ValidationError as exc:
            metrics.skipped.labels("invalid").inc()
            log.warning("skipping invalid label request: %s", exc.reason)
            continue
        if request.message_id in seen or request.message_id in fresh:
            metrics.skipped.labels("duplicate").inc()
            continue
        fresh[request.message_id] = request
    return list(fresh.values())


def label_batch(
    requests: list[LabelRequest], labeler: Labeler, metrics: LabelerMetrics
) -> list[LabelledSample]:
    """One teacher call for the batch; raises :class:`LabelerError` on teacher failure."""
    if not requests:
        return []
    started = time.perf_counter()
    labels = labeler.label([r.text for r in requests])
    metrics.batch_seconds.observe(time.perf_counter() - started)
    now = time.time()
    return [
        LabelledSample(
            message_id=r.message_id,
            text=r.text,
            teacher_probs=t.probs,
            label=t.label,
            teacher_id=labeler.teacher_id,
            request=r.meta(),
            labelled_at=now,
        )
        for r, t in zip(requests, labels, strict=True)
    ]


def labelled_ids(bootstrap: str, topic: str) -> set[str]:
    """Message ids already in ``topic`` (read from the beginning to the current end)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    ids: set[str] = set()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not assigned:
            return ids
        consumer.assign(assigned)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(assigned)
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if record.key is not None:
                        ids.add(record.key.decode("utf-8", "replace"))
                    else:
                        with contextlib.suppress(ValidationError):
                            ids.add(parse_labelled_sample(record.value).message_id)
    finally:
        consumer.close()
    return ids


class LabelerService:
    def __init__(
        self, settings: LabelerSettings, labeler: Labeler, metrics: LabelerMetrics
    ) -> None:
        self.settings, self.labeler, self.metrics = settings, labeler, metrics
        self.stop_event = threading.Event()

    def run(self) -> None:
        from kafka import KafkaConsumer, KafkaProducer
        from kafka.errors import KafkaError

        s = self.settings
        seen = labelled_ids(s.bootstrap, s.labeled_topic)
        self.metrics.seen.set(len(seen))
        log.info(
            "labeler starting: %d ids already labelled, teacher %s",
            len(seen),
            self.labeler.teacher_id,
        )
        consumer = KafkaConsumer(
            s.requests_topic,
            bootstrap_servers=s.bootstrap,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_size,
        )
        producer = KafkaProducer(bootstrap_servers=s.bootstrap, acks="all", linger_ms=5)
        last_backlog = 0.0
        try:
            while not self.stop_event.is_set():
                polled = consumer.poll(timeout_ms=s.poll_timeout_ms, max_records=s.batch_size)
                if time.monotonic() - last_backlog >= s.backlog_every_s:
                    last_backlog = time.monotonic()
                    self._update_backlog(consumer)
                if not polled:
                    continue
                starts = {tp: records[0].offset for tp, records in polled.items() if records}
                values = [r.value for records in polled.values() for r in records]
                try:
                    # 1. label what is new
                    requests = new_requests(values, seen, self.metrics)
                    samples = label_batch(requests, self.labeler, self.metrics)
                except LabelerError as exc:
                    self._retry(consumer, starts, "teacher", exc)
                    continue
                try:
                    # 2. produce and wait for every acknowledgement
                    futures = [
                        producer.send(
                            s.labeled_topic, key=x.message_id.encode(), value=x.to_bytes()
                        )
                        for x in samples
                    ]
                    producer.flush(timeout=30)
                    for future in futures:
                        future.get(timeout=30)
                    # 3. only now the requests are done
                    consumer.commit()
                except KafkaError as exc:
                    self._retry(consumer, starts, "produce", exc)
                    continue
                seen.update(x.message_id for x in samples)
                self.metrics.seen.set(len(seen))
                self.metrics.labels.labels(self.labeler.teacher_id).inc(len(samples))
        finally:
            consumer.close(autocommit=False)
            producer.close(timeout=10)

    def _retry(self, consumer, starts, stage: str, exc: Exception) -> None:
        self.metrics.failures.labels(stage).inc()
        log.warning("batch failed at %s (%s); retrying", stage, exc)
        for tp, offset in starts.items():
            consumer.seek(tp, offset)
        self.stop_event.wait(self.settings.retry_backoff_s)

    def _update_backlog(self, consumer) -> None:
        assigned = list(consumer.assignment())
        if not assigned:
            return
        try:
            ends = consumer.end_offsets(assigned)
            backlog = sum(max(0, end - (consumer.committed(tp) or 0)) for tp, end in ends.items())
        except Exception as exc:  # a metric must never stop the labeler
            log.debug("backlog unavailable: %s", exc)
            return
        self.metrics.backlog.set(backlog)
