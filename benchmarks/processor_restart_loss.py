"""Does the stream processor lose records that arrive while a restarted worker recovers?

Starts ``fleet processor run`` on fresh topics of the local Kafka (``fleet stack up``), sends
100 events and waits until they are counted, restarts the worker and keeps sending 5 events
every 0.2 s (no waiting for ``fleet_processor_worker_ready``) until 3 s after it is ready.
Ground truth per message id is the ``seen`` table's changelog topic: every id the processor
deduplicated against. Prints one JSON line per run: sent, counted by the new worker,
duplicates, the consumer's seeks back to skipped records, and the missing ids with where
they are (source and re-keying topic offsets).

Run: ``python -m benchmarks.processor_restart_loss --runs 3``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
import uuid
from pathlib import Path

from services.security.kafka import KafkaAccess


def _read(kafka: KafkaAccess, topic: str, partitions: int) -> list:
    """Every record of ``topic`` up to its end offsets now (ticks keep arriving)."""
    from kafka import TopicPartition

    consumer = kafka.consumer(enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    end = consumer.end_offsets(tps)
    records: list = []
    deadline = time.monotonic() + 30
    while any(consumer.position(tp) < end[tp] for tp in tps) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records += batch
    consumer.close()
    return records


def run_once(kafka: KafkaAccess, tmp: Path) -> dict:
    from kafka.admin import NewTopic

    from benchmarks.harness.processor import (
        ProcessorTopics,
        processor_process,
        publish_release,
        send_traffic,
    )
    from benchmarks.harness.service_process import delete_topics_with_prefix

    admin = kafka.admin()

    def topic(partitions: int, prefix: str, compact: bool = False) -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        configs = {"cleanup.policy": "compact"} if compact else {}
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
        return name

    topics = ProcessorTopics(
        topic(3, "bench.pred"), topic(1, "bench.rel", True), topic(2, "bench.req")
    )
    producer = kafka.producer(acks="all", linger_ms=5)
    publish_release(producer, topics.releases, 3)
    window_s = 600.0
    proc = processor_process(topics, tmp, window_s=window_s, grace_s=1.0).start()
    app_id = proc.env["FLEET_PROCESSOR_APP_ID"]
    start = math.floor(time.time() / window_s) * window_s
    counted = lambda: proc.value("fleet_processor_events_total", model_version="3")  # noqa: E731
    try:
        proc.wait_for(lambda: proc.value("fleet_processor_releases_known") == 1, "release")
        first = send_traffic(
            producer, topics.predictions, 100, model_version=3, shifted=False,
            ts=(start, start + 1), seed=3,
        )  # fmt: skip
        ids = [e.message_id for e in first]
        proc.wait_for(lambda: counted() == len(first), "first batch counted")
        t0 = time.monotonic()
        proc.restart()
        seq, ready_s = 1000, None
        while ready_s is None or time.monotonic() - t0 < ready_s + 3:
            batch = send_traffic(
                producer, topics.predictions, 5, model_version=3, shifted=False,
                ts=(start + 2, start + 3), seed=seq, seq_offset=seq,
            )  # fmt: skip
            ids += [e.message_id for e in batch]
            seq += 5
            if ready_s is None and proc.value("fleet_processor_worker_ready") == 1:
                ready_s = time.monotonic() - t0
            time.sleep(0.2)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and counted() < len(ids) - len(first):
            time.sleep(0.5)
        time.sleep(3)
        seen = {r.key.decode().strip('"') for r in _read(kafka, f"{app_id}-seen-changelog", 2)}
        by_version = {
            json.loads(r.value)["message_id"]: (r.partition, r.offset)
            for r in _read(kafka, f"{app_id}-by-version", 2)
            if r.value
        }
        source = {
            json.loads(r.value)["message_id"]: (r.partition, r.offset)
            for r in _read(kafka, topics.predictions, 3)
        }
        missing = sorted(set(ids) - seen)
        return {
            "sent": len(ids),
            "ready_s": round(ready_s, 1),
            "counted_after_restart": counted(),
            "expected_after_restart": len(ids) - len(first),
            "duplicates": proc.value("fleet_processor_duplicates_total"),
            "reseeks": sum(  # holes the consumer found and refetched (processor/consumer.py)
                v
                for (name, _), v in proc.metrics().items()
                if name == "fleet_processor_consumer_reseeks_total"
            ),
            "missing": len(missing),
            "missing_where": {
                m: {"source": source.get(m), "by_version": by_version.get(m)} for m in missing
            },
            "log": str(proc.log),
        }
    finally:
        proc.stop()
        producer.close()
        delete_topics_with_prefix(kafka, app_id)
        admin.delete_topics([topics.predictions, topics.releases, topics.label_requests])
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    from services.security.access import Access
    from services.settings import load_settings

    # the benchmark's own topics, which the ACLs give no service: its processor runs as admin
    os.environ.setdefault("FLEET_SECURITY__KAFKA_ACCOUNT", "admin")
    kafka = Access(load_settings()).kafka("admin")  # the stack of fleet.toml / FLEET_*
    tmp = Path(tempfile.mkdtemp(prefix="restart-loss-"))
    for _ in range(args.runs):
        print(json.dumps(run_once(kafka, tmp)), flush=True)


if __name__ == "__main__":
    main()
