"""Start the processor on fresh topics and feed it prediction traffic (integration tests)."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.service_process import ServiceProcess, free_port
from benchmarks.harness.stream_data import make_event, manifest


@dataclass(frozen=True)
class ProcessorTopics:
    predictions: str
    releases: str
    label_requests: str


def make_topics(kafka_topic_factory) -> ProcessorTopics:
    return ProcessorTopics(
        predictions=kafka_topic_factory(partitions=3, prefix="test.pred"),
        releases=kafka_topic_factory(partitions=1, compacted=True, prefix="test.rel"),
        label_requests=kafka_topic_factory(partitions=2, prefix="test.req"),
    )


def processor_process(
    topics: ProcessorTopics, tmp_path: Path, **settings: object
) -> ServiceProcess:
    """Not started yet; ``settings`` are ProcessorSettings fields."""
    app_id = f"test-processor-{uuid.uuid4().hex[:8]}"
    port = free_port()
    values = {
        "app_id": app_id,
        "predictions_topic": topics.predictions,
        "releases_topic": topics.releases,
        "label_requests_topic": topics.label_requests,
        "partitions": 2,
        "tick_s": 0.5,
        "metrics_port": port,
        "data_dir": str(tmp_path / app_id),
        **settings,
    }
    env = {f"FLEET_PROCESSOR_{k.upper()}": str(v) for k, v in values.items()}
    return ServiceProcess(["processor", "run"], env, tmp_path / f"{app_id}.log", port)


def publish_release(producer, topic: str, version: int) -> None:
    producer.send(topic, key=b"stm32f405-tinylstm", value=manifest(version).to_bytes()).get(30)


def send_traffic(
    producer,
    topic: str,
    n: int,
    *,
    model_version: int,
    shifted: bool,
    ts: tuple[float, float],
    seed: int,
    devices: int = 6,
    chatty_share: float = 0.5,
    seq_offset: int = 0,
) -> list:
    """``n`` events, half from device "chatty", Kafka timestamps spread over ``ts``."""
    rng = random.Random(seed)
    events = []
    for i in range(n):
        device = "chatty" if rng.random() < chatty_share else f"dev-{rng.randrange(devices):04d}"
        event = make_event(rng, device, seq_offset + i, model_version, shifted)
        stamp = ts[0] + (ts[1] - ts[0]) * i / max(n, 1)
        producer.send(
            topic, key=device.encode(), value=event.to_bytes(), timestamp_ms=int(stamp * 1000)
        )
        events.append(event)
    producer.flush(timeout=30)
    return events


def resend(producer, topic: str, events: list, ts: tuple[float, float]) -> None:
    for i, event in enumerate(events):
        stamp = ts[0] + (ts[1] - ts[0]) * i / max(len(events), 1)
        producer.send(
            topic,
            key=event.device_id.encode(),
            value=event.to_bytes(),
            timestamp_ms=int(stamp * 1000),
        )
    producer.flush(timeout=30)
