"""The labeler loop: consume label requests, label new ones in batches (``batch.py``), produce
samples and dead letters, then commit.

Idempotent by device and message id: the requests already in ``distill.labeled`` or the
labeling dead-letter topic are read back on start (:func:`done_keys`), and every one finished
since is added, so a redelivered request is skipped. Offsets are committed only after every
produced record was acknowledged by Kafka (``acks=all``). Requests to be tried again (the
teacher failed on them, or the batch's deadline came first) are not committed: the consumer
commits up to the first of them on each partition and seeks back to it; the requests after it
that were finished are skipped as duplicates when read again. When the produce fails the
whole batch is read again.

Every batch ends well inside Kafka's ``max.poll.interval.ms``: no text starts after
``batch_deadline_s``, one LLM request is bounded by ``llm_timeout_s`` and the produce by
``produce_timeout_s`` (the settings refuse values whose sum exceeds half the interval).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from contract.errors import ValidationError
from contract.schemas import parse_label_dead_letter, parse_labeled_sample
from services.labeler.batch import (
    Attempts,
    label_batch,
    new_requests,
    request_key,
    sample_key,
)
from services.labeler.metrics import LabelerMetrics
from services.labeler.settings import LabelerSettings
from services.labeler.teacher import Labeler
from services.security.kafka import KafkaAccess, required

if TYPE_CHECKING:
    from kafka import KafkaConsumer, KafkaProducer

log = logging.getLogger(__name__)
READ_BACK_TIMEOUT_S = 600.0  # bound on reading the done requests back at start (no progress)


def done_keys(kafka: KafkaAccess, labeled_topic: str, dlq_topic: str) -> set[str]:
    """Requests already finished: labeled or dead-lettered (each topic read from the beginning
    to its current end). The values are parsed: records are keyed by message id alone, and
    deduplication is by device and message id."""
    from services.topic_reader import read_to_end

    keys: set[str] = set()
    for topic, key_of in ((labeled_topic, _sample_key), (dlq_topic, _dead_letter_key)):
        for record in read_to_end(kafka, topic, timeout_s=READ_BACK_TIMEOUT_S):
            with contextlib.suppress(ValidationError):
                keys.add(key_of(record.value))
    return keys


def _sample_key(raw: bytes) -> str:
    return sample_key(parse_labeled_sample(raw))


def _dead_letter_key(raw: bytes) -> str:
    return request_key(parse_label_dead_letter(raw).request)


class LabelerService:
    def __init__(
        self, settings: LabelerSettings, labeler: Labeler, metrics: LabelerMetrics
    ) -> None:
        self.settings, self.labeler, self.metrics = settings, labeler, metrics
        self.stop_event = threading.Event()
        self.attempts = Attempts(settings.max_attempts)

    def run(self) -> None:
        s = self.settings
        kafka = required(s.kafka, "the labeler")
        seen = done_keys(kafka, s.labeled_topic, s.dlq_topic)
        self.metrics.seen.set(len(seen))
        log.info(
            "labeler starting: %d requests already done, teacher %s",
            len(seen),
            self.labeler.teacher_id,
        )
        consumer = kafka.consumer(
            s.requests_topic,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=s.batch_size,
            max_poll_interval_ms=s.max_poll_interval_ms,
        )
        producer = kafka.producer(acks="all", linger_ms=5)
        last_backlog = 0.0
        try:
            while not self.stop_event.is_set():
                polled = consumer.poll(timeout_ms=s.poll_timeout_ms, max_records=s.batch_size)
                if time.monotonic() - last_backlog >= s.backlog_every_s:
                    last_backlog = time.monotonic()
                    self._update_backlog(consumer)
                if polled:
                    self._batch(consumer, producer, polled, seen)
        finally:
            consumer.close(autocommit=False)
            producer.close(timeout=10)

    def _batch(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        polled: dict[Any, list[Any]],
        seen: set[str],
    ) -> None:
        from kafka.errors import KafkaError
        from kafka.structs import OffsetAndMetadata

        s = self.settings
        records = [(tp, r) for tp, batch in polled.items() for r in batch]
        deadline = time.monotonic() + s.batch_deadline_s
        # 1. label what is new
        fresh = new_requests([r.value for _, r in records], seen, self.metrics)
        outcome = label_batch(
            [request for _, request in fresh], self.labeler, self.metrics, self.attempts, deadline
        )
        position = {request_key(request): records[i] for i, request in fresh}
        # 2. commit up to the first request to try again on each partition
        commit = {tp: batch[-1].offset + 1 for tp, batch in polled.items() if batch}
        for request in outcome.retry:
            tp, record = position[request_key(request)]
            commit[tp] = min(commit[tp], record.offset)
        try:
            # 3. produce and wait for every acknowledgement
            futures = [
                producer.send(s.labeled_topic, key=x.message_id.encode(), value=x.to_bytes())
                for x in outcome.samples
            ] + [
                producer.send(s.dlq_topic, key=x.request.message_id.encode(), value=x.to_bytes())
                for x in outcome.dead
            ]
            ends = time.monotonic() + s.produce_timeout_s
            producer.flush(timeout=s.produce_timeout_s)
            for future in futures:
                future.get(timeout=max(0.1, ends - time.monotonic()))
            # 4. only now these requests are done
            consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in commit.items()})
        except KafkaError as exc:
            self.metrics.failures.labels("produce").inc()
            log.warning("produce or commit failed (%s); reading the batch again", exc)
            self._seek({tp: batch[0].offset for tp, batch in polled.items() if batch}, consumer)
            return
        done = [sample_key(x) for x in outcome.samples]
        done += [request_key(x.request) for x in outcome.dead]
        seen.update(done)
        self.metrics.seen.set(len(seen))
        self.metrics.labels.labels(self.labeler.teacher_id).inc(len(outcome.samples))
        self.metrics.dead_letters.inc(len(outcome.dead))
        again = {tp: o for tp, o in commit.items() if o <= polled[tp][-1].offset}
        if again:
            self._seek(again, consumer)

    def _seek(self, offsets: dict[Any, int], consumer: KafkaConsumer) -> None:
        """Read from ``offsets`` again after a pause."""
        for tp, offset in offsets.items():
            consumer.seek(tp, offset)
        self.stop_event.wait(self.settings.retry_backoff_s)

    def _update_backlog(self, consumer: KafkaConsumer) -> None:
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
