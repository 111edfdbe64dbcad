"""Two labelers in one consumer group: the second joins while the first is working (a
rebalance), and every request is labeled, none twice."""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest

from benchmarks.harness.labeler import labeler_process
from contract.schemas.examples import label_request
from tests.services.labeler.test_labeler_stream import _read_all

pytestmark = pytest.mark.integration
TEACHER = "keyword-double"


def test_two_labelers_split_the_requests_and_label_each_once(stack, kafka_topic_factory, tmp_path):

    requests = kafka_topic_factory(partitions=3, prefix="test.req")
    labeled = kafka_topic_factory(partitions=3, prefix="test.lab")
    producer = stack.kafka.producer(acks="all", linger_ms=5)
    group = f"test-labeler-{uuid.uuid4().hex[:8]}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = (
        labeler_process(requests, labeled, tmp_path / d,
                        group_id=group, batch_size=8)
        for d in ("a", "b")
    )  # fmt: skip
    workers = (first, second)
    ids: list[str] = []

    def send(count: int) -> None:
        for _ in range(count):
            r = label_request(device_id=f"dev-{len(ids) % 7:04d}", seq=len(ids))
            producer.send(requests, key=r.message_id.encode(), value=r.to_bytes())
            ids.append(r.message_id)
        producer.flush(timeout=30)

    def labels(worker) -> float:
        if worker.proc is None:
            return 0.0
        return worker.value("fleet_labeler_labels_total", teacher_id=TEACHER)

    send(200)
    first.start()
    try:
        first.wait_for(lambda: labels(first) >= 40, "the first labels")
        second.start()
        second.wait_for(lambda: "labeler starting" in second.tail(100_000), "second instance")
        # requests keep coming until the group has rebalanced and the second one labels too
        while labels(second) == 0 and len(ids) < 3000:
            send(20)
            time.sleep(0.2)
        send(100)  # and some more after it has joined
        first.wait_for(
            lambda: labels(first) + labels(second) >= len(ids), "every request labeled",
            timeout_s=180,
        )  # fmt: skip
        samples = _read_all(stack.kafka, labeled, len(ids))
        assert labels(second) > 0, second.tail()
        assert labels(first) + labels(second) == len(ids)
    finally:
        codes = [w.stop() for w in workers]
        producer.close()
    counts = Counter(s.message_id for s in samples)
    assert set(counts) == set(ids)  # none lost
    assert [i for i, c in counts.items() if c > 1] == []  # none twice
    assert codes == [0, 0]
