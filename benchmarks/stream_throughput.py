"""Throughput of the stream processor (events/s) and the labeler (labels/s) on this machine.

Both read a backlog produced beforehand into fresh topics of the local Kafka (started if it
is not running), so the numbers are the services' own drain rate, not the producer's:

- processor: ``--workers`` counts of ``fleet processor run`` subprocesses in one group (1 s
  windows) on a 6-partition topic; the clock runs from the first counted event to the last
  one (``fleet_processor_events_total`` summed over the workers), after every worker is
  ready, so start-up and the group's rebalance are excluded. One model version's windows are
  aggregated where its key lands (one partition of the re-keyed topic): extra workers take
  the validation and re-keying of the 6 source partitions, not that aggregation;
- labeler processes: ``--workers`` counts of ``fleet labeler run`` (keyword double) in one
  consumer group on a 3-partition topic, timed the same way;
- labeler: the labeler loop in-process, once with the keyword double and once with the real
  teacher (``models.teacher.Teacher("e5-small")`` with a fresh, untrained head: inference
  cost only, the labels are meaningless) when its weights load; batch size 32, CPU.

Run: ``python -m benchmarks.stream_throughput`` (prints JSON). Sizes: ``--events``,
``--requests``, ``--teacher-requests``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import threading
import time
import uuid
from pathlib import Path

from services.security.kafka import KafkaAccess


def _topics(kafka: KafkaAccess, names: dict[str, int]) -> None:
    from kafka.admin import NewTopic

    admin = kafka.admin()
    try:
        admin.create_topics([NewTopic(n, p, 1) for n, p in names.items()], timeout_ms=30_000)
    finally:
        admin.close()


def _delete(kafka: KafkaAccess, prefixes: list[str]) -> None:

    admin = kafka.admin()
    try:
        doomed = [t for t in admin.list_topics() if any(t.startswith(p) for p in prefixes)]
        if doomed:
            admin.delete_topics(doomed, timeout_ms=30_000)
    finally:
        admin.close()


def processor_throughput(kafka: KafkaAccess, n_events: int, workers: int = 1) -> dict:
    """``workers`` processor processes in one group drain a backlog on a 6-partition topic."""

    from benchmarks.harness.processor import (
        ProcessorTopics,
        processor_process,
        publish_release,
        send_traffic,
    )

    tag = f"bench.{uuid.uuid4().hex[:8]}"
    topics = ProcessorTopics(f"{tag}.pred", f"{tag}.rel", f"{tag}.req")
    _topics(kafka, {topics.predictions: 6, topics.releases: 1, topics.label_requests: 1})
    producer = kafka.producer(acks="all", linger_ms=20)
    publish_release(producer, topics.releases, 3)
    now = time.time()
    send_traffic(
        producer, topics.predictions, n_events, model_version=3, shifted=False,
        ts=(now - 30, now), seed=11, devices=50, chatty_share=0.1,
    )  # fmt: skip
    producer.close()
    with tempfile.TemporaryDirectory() as tmp:
        procs = [processor_process(topics, Path(tmp), window_s=1.0, grace_s=0.5)]
        app_id = procs[0].env["FLEET_PROCESSOR_APP_ID"]
        for i in range(1, workers):
            procs.append(processor_process(topics, Path(tmp), window_s=1.0,
                                           grace_s=0.5, app_id=app_id,
                                           data_dir=str(Path(tmp) / f"w{i}")))  # fmt: skip
        for proc in procs:
            proc.start()
        try:
            for proc in procs:  # every worker up before the clock starts: a steady group
                proc.wait_for(lambda p=proc: p.value("fleet_processor_worker_ready") == 1,
                              "worker ready", timeout_s=180)  # fmt: skip
            counted = lambda: sum(  # noqa: E731
                p.value("fleet_processor_events_total", model_version="3") for p in procs
            )
            procs[0].wait_for(lambda: counted() > 0, "first event", timeout_s=600, every_s=0.05)
            first, start_count = time.monotonic(), counted()
            procs[0].wait_for(lambda: counted() >= n_events, "all events", timeout_s=600,
                              every_s=0.1)  # fmt: skip
            elapsed = time.monotonic() - first
        finally:
            for proc in procs:
                proc.stop()
            _delete(kafka, [tag, app_id])
    return {
        "workers": workers,
        "events": n_events,
        "seconds": round(elapsed, 2),
        "events_per_s": round((n_events - start_count) / elapsed, 1),
        "source_partitions": 6,
        "windows_s": 1.0,
    }


def labeler_scale(kafka: KafkaAccess, n_requests: int, instances: int) -> dict:
    """``instances`` ``fleet labeler run`` processes (keyword double) in one group drain a
    backlog on a 3-partition topic."""

    from benchmarks.harness.labeler import labeler_process
    from contract.schemas.examples import label_request

    tag = f"bench.{uuid.uuid4().hex[:8]}"
    requests, labeled = f"{tag}.req", f"{tag}.lab"
    _topics(kafka, {requests: 3, labeled: 3})
    producer = kafka.producer(acks="all", linger_ms=20)
    for i in range(n_requests):
        r = label_request(device_id=f"dev-{i % 50:04d}", seq=i)
        producer.send(requests, key=r.message_id.encode(), value=r.to_bytes())
    producer.close()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i in range(instances):
            (Path(tmp) / str(i)).mkdir()
            procs.append(labeler_process(requests, labeled, Path(tmp) / str(i),
                                         group_id=f"{tag}-labeler", batch_size=32))  # fmt: skip
        for proc in procs:
            proc.start()
        labeled = lambda: sum(  # noqa: E731
            p.value("fleet_labeler_labels_total", teacher_id="keyword-double") for p in procs
        )
        try:
            procs[0].wait_for(lambda: labeled() > 0, "first label", timeout_s=600, every_s=0.05)
            first, start_count = time.monotonic(), labeled()
            procs[0].wait_for(lambda: labeled() >= n_requests, "all labels", timeout_s=600,
                              every_s=0.1)  # fmt: skip
            elapsed = time.monotonic() - first
        finally:
            for proc in procs:
                proc.stop()
            _delete(kafka, [tag])
    return {
        "instances": instances,
        "requests": n_requests,
        "seconds": round(elapsed, 2),
        "labels_per_s": round((n_requests - start_count) / elapsed, 1),
    }


def labeler_throughput(kafka: KafkaAccess, labeler, n_requests: int) -> dict:

    from contract.schemas.examples import TEXTS, label_request
    from services.labeler.metrics import LabelerMetrics
    from services.labeler.service import LabelerService
    from services.labeler.settings import LabelerSettings

    tag = f"bench.{uuid.uuid4().hex[:8]}"
    requests, labeled = f"{tag}.req", f"{tag}.lab"
    _topics(kafka, {requests: 3, labeled: 3})
    producer = kafka.producer(acks="all", linger_ms=20)
    rng = random.Random(7)
    for i in range(n_requests):
        r = label_request(device_id=f"dev-{i % 50:04d}", seq=i)
        text = f"{rng.choice(TEXTS)} #{i}"  # distinct texts of realistic length
        producer.send(
            requests,
            key=r.message_id.encode(),
            value=r.model_copy(update={"text": text}).to_bytes(),
        )
    producer.close()
    settings = LabelerSettings(
        group_id=f"{tag}-labeler", kafka=kafka, requests_topic=requests,
        labeled_topic=labeled, batch_size=32, metrics_port=0,
    )  # fmt: skip
    metrics = LabelerMetrics.create()
    service = LabelerService(settings, labeler, metrics)
    thread = threading.Thread(target=service.run, daemon=True)
    thread.start()

    def done() -> float:
        return (
            metrics.registry.get_sample_value(
                "fleet_labeler_labels_total", {"teacher_id": labeler.teacher_id}
            )
            or 0.0
        )

    try:
        deadline = time.monotonic() + 600
        while done() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        first = time.monotonic()
        while done() < n_requests and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.monotonic() - first
        labeled = done()
    finally:
        service.stop_event.set()
        thread.join(timeout=30)
        _delete(kafka, [tag])
    return {
        "labeler": labeler.teacher_id,
        "requests": n_requests,
        "labeled": int(labeled),
        "seconds": round(elapsed, 2),
        "labels_per_s": round(labeled / elapsed, 1),
        "batch_size": 32,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=3_000)
    parser.add_argument("--teacher-requests", type=int, default=256)
    parser.add_argument("--workers", default="1,2", help="processor workers / labelers")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    counts = [int(n) for n in args.workers.split(",") if n]

    from contract.schemas.examples import LABELS
    from services.labeler.teacher import LOGISTICS_KEYWORDS, KeywordLabeler, TeacherLabeler
    from services.security.access import Access
    from services.settings import load_settings
    from services.stack import Stack

    settings = load_settings()
    stack = Stack(settings)
    started = stack.up()
    try:
        # the benchmark's own topics, which the ACLs give no service: services run as admin
        os.environ.setdefault("FLEET_SECURITY__KAFKA_ACCOUNT", "admin")
        kafka = Access(settings).kafka("admin")
        result: dict = {
            "benchmark": "stream_throughput",
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "processor": [processor_throughput(kafka, args.events, n) for n in counts],
            "labeler_keyword_double": labeler_throughput(
                kafka, KeywordLabeler(LABELS, LOGISTICS_KEYWORDS), args.requests
            ),
            "labeler_processes": [labeler_scale(kafka, args.requests, n) for n in counts],
        }
        try:
            import torch

            from models.teacher import Teacher

            torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
            teacher = Teacher("e5-small")
            teacher.attach_head(list(LABELS))  # untrained: measures inference cost only
            result["labeler_real_teacher"] = labeler_throughput(
                kafka, TeacherLabeler(teacher, "e5-small+untrained-head"), args.teacher_requests
            )
            result["labeler_real_teacher"]["torch_threads"] = torch.get_num_threads()
        except Exception as exc:  # the teacher's weights are optional for this benchmark
            result["labeler_real_teacher"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    finally:
        if started:
            stack.down(list(started))
    print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
