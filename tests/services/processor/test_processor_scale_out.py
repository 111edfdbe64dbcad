"""Two processor workers in one faust group on a 6-partition topic: the second joins in the
middle of a window (a rebalance), and the window still counts every event exactly once."""

from __future__ import annotations

import math
import time

import pytest

from benchmarks.harness.processor import (
    ProcessorTopics,
    processor_process,
    publish_release,
    send_traffic,
)
from benchmarks.harness.service_process import delete_topics_with_prefix

pytestmark = pytest.mark.integration
VERSION = 5


def test_two_workers_share_the_partitions_and_count_each_event_once(
    stack, kafka_topic_factory, tmp_path
):

    topics = ProcessorTopics(
        predictions=kafka_topic_factory(partitions=6, prefix="test.pred"),
        releases=kafka_topic_factory(partitions=1, compacted=True, prefix="test.rel"),
        label_requests=kafka_topic_factory(partitions=2, prefix="test.req"),
    )
    producer = stack.kafka.producer(acks="all", linger_ms=5)
    publish_release(producer, topics.releases, VERSION)
    window_s = 30.0
    first = processor_process(topics, tmp_path, window_s=window_s, grace_s=1.0)
    app_id = first.env["FLEET_PROCESSOR_APP_ID"]
    # the same app id (consumer group, tables), its own port, log and data dir
    second = processor_process(topics, tmp_path, window_s=window_s, grace_s=1.0,
        app_id=app_id, data_dir=str(tmp_path / "second"),
    )  # fmt: skip
    workers = (first, second)

    def received(worker) -> float:
        """Records of the source topic this worker read (faust's per-partition sensor)."""
        return sum(
            v
            for (name, labels), v in worker.metrics().items()
            if name.endswith("messages_received_per_topic_total")
            and ("topic", topics.predictions) in labels
        )

    def total(name: str, **labels: str) -> float:
        return sum(w.value(name, **labels) for w in workers if w.proc is not None)

    first.start()
    try:
        first.wait_for(lambda: first.value("fleet_processor_worker_ready") == 1, "worker 1")
        # the window closes 61..91 s from now: after the second worker joined and took part
        start = math.ceil((time.time() + 60) / window_s) * window_s
        stamps = (start, start + window_s - 0.01)
        devices = 24  # keys spread over all 6 partitions
        sent = send_traffic(
            producer, topics.predictions, 300, model_version=VERSION, shifted=False,
            ts=stamps, seed=21, devices=devices, chatty_share=0.0,
        )  # fmt: skip
        events = lambda: total("fleet_processor_events_total", model_version=str(VERSION))  # noqa: E731
        first.wait_for(lambda: events() >= 100, "part of the stream counted", every_s=0.05)
        second.start()

        def more(seed: int) -> None:
            sent.extend(send_traffic(
                producer, topics.predictions, 20, model_version=VERSION, shifted=False,
                ts=stamps, seed=seed, devices=devices, chatty_share=0.0,
                seq_offset=1000 + len(sent),
            ))  # fmt: skip

        for i in range(15):  # traffic goes on while the group rebalances
            more(200 + i)
            time.sleep(0.3)
        second.wait_for(lambda: second.value("fleet_processor_worker_ready") == 1, "worker 2")
        # and after: until both workers have read some of the source partitions
        for i in range(100):
            if all(received(w) > 0 for w in workers):
                break
            more(400 + i)
            time.sleep(0.3)
        first.wait_for(
            lambda: total("fleet_processor_windows_closed_total", model_version=str(VERSION)) >= 1,
            "the window to close",
            timeout_s=120,
        )
        closed_by = [
            w
            for w in workers
            if w.value("fleet_processor_windows_closed_total", model_version=str(VERSION))
        ]
        assert len(closed_by) == 1  # one owner per model version's partition
        count = closed_by[0].value("fleet_processor_window_events", model_version=str(VERSION))
        assert count == len(sent)
        assert total("fleet_processor_late_events_total", model_version=str(VERSION)) == 0
        assert [received(w) > 0 for w in workers] == [True, True]  # both own partitions
        time.sleep(2)  # a few more ticks: the window is not closed a second time
        assert total("fleet_processor_windows_closed_total", model_version=str(VERSION)) == 1
    finally:
        codes = [w.stop() for w in workers]
        producer.close()
        delete_topics_with_prefix(stack.kafka, app_id)
    assert codes == [0, 0], first.tail() + second.tail()
