"""The labeler against the real Kafka: batches, idempotence across a restart, commits."""

from __future__ import annotations

import time

import pytest

from benchmarks.harness.labeler import labeler_process
from contract.schemas import parse_labeled_sample
from contract.schemas.examples import label_request
from services.security.kafka import KafkaAccess

pytestmark = pytest.mark.integration


def _read_all(
    kafka: KafkaAccess, topic: str, expect: int, timeout_s: float = 120, parse=parse_labeled_sample
) -> list:
    """``expect`` records of ``topic`` (fewer only after ``timeout_s``, a bound for a broken
    run; returns as soon as they are there)."""

    consumer = kafka.consumer(topic, auto_offset_reset="earliest", enable_auto_commit=False)
    out, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(out) < expect:
        for records in consumer.poll(timeout_ms=500).values():
            out += [parse(r.value) for r in records]
    consumer.close()
    return out


def test_labels_each_request_once_across_redelivery_and_restart(
    stack, kafka_topic_factory, tmp_path
):

    requests = kafka_topic_factory(partitions=2, prefix="test.req")
    labeled = kafka_topic_factory(partitions=2, prefix="test.lab")
    producer = stack.kafka.producer(acks="all")

    def send(seqs) -> None:
        for seq in seqs:
            r = label_request(device_id=f"dev-{seq % 5:04d}", seq=seq)
            producer.send(requests, key=r.message_id.encode(), value=r.to_bytes())
        producer.flush(timeout=30)

    proc = labeler_process(requests, labeled, tmp_path).start()
    try:
        send(range(40))
        send(range(10))  # redelivered upstream
        producer.send(requests, key=b"bad", value=b"not a label request").get(30)
        labels = lambda: proc.value("fleet_labeler_labels_total", teacher_id="keyword-double")  # noqa: E731
        proc.wait_for(lambda: labels() == 40, "40 labels")
        proc.wait_for(lambda: proc.value("fleet_labeler_backlog") == 0, "backlog drained")
        assert proc.value("fleet_labeler_skipped_total", reason="duplicate") == 10
        assert proc.value("fleet_labeler_skipped_total", reason="invalid") == 1

        proc.restart()  # the seen-set is rebuilt from the labeled topic
        send(range(30, 50))  # 10 already labeled, 10 new
        proc.wait_for(lambda: labels() == 10, "10 new labels after restart")
        assert proc.value("fleet_labeler_skipped_total", reason="duplicate") == 10
        proc.wait_for(lambda: proc.value("fleet_labeler_backlog") == 0, "backlog drained")
    finally:
        assert proc.stop() == 0, proc.tail()
        producer.close()

    samples = _read_all(stack.kafka, labeled, expect=50)
    ids = [s.message_id for s in samples]
    assert sorted(ids) == sorted(f"dev-{i % 5:04d}-{i}" for i in range(50))  # each exactly once
    for s in samples:
        assert (
            s.teacher_id == "keyword-double"
            and s.request.device_id == s.message_id.rsplit("-", 1)[0]
        )
        assert s.teacher_probs[s.label] == max(s.teacher_probs.values())
