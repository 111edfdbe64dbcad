"""Every panel query of every dashboard returns data from the stack's Prometheus while the
real services run: devices publish over MQTT -> gateway -> Kafka -> processor -> labeler, and
the distiller, rollout manager and control API handle samples, releases and ops commands."""

from __future__ import annotations

import json
import random
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid

import pytest

from benchmarks.harness.labeler import labeler_process
from benchmarks.harness.processor import make_topics, processor_process, publish_release
from benchmarks.harness.service_process import ServiceProcess, delete_topics_with_prefix, free_port
from benchmarks.harness.stream_data import make_event
from services.dashboards.export import panel_queries, render
from tests.deploy.loop_services import loop_services

pytestmark = pytest.mark.integration
RATE_WINDOW = "20s"  # stands in for $__rate_interval; the test targets are scraped every 1 s


def _instant(prometheus_url: str, expr: str) -> list:
    url = f"{prometheus_url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def _recorded() -> dict[str, str]:
    """Recording rule name -> its expression (dashboards may read recorded series)."""
    import yaml

    from services.settings import REPO_ROOT

    rules = {}
    for path in (REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            rules.update({r["record"]: r["expr"] for r in group["rules"] if "record" in r})
    return rules


def _metrics_read(expr: str, recorded: dict[str, str]) -> set[str]:
    """The exported metric names ``expr`` reads, through recording rules."""
    names = set(re.findall(r"\b(fleet_[a-z_]+)\b", expr))
    for rule in re.findall(r"\b(fleet:[a-z_0-9:]+)\b", expr):
        names |= _metrics_read(recorded[rule], recorded)
    return names


def _queries() -> list[tuple[str, str, str]]:
    out = []
    for name, text in render().items():
        for title, expr in panel_queries(text):
            concrete = expr.replace("$__rate_interval", RATE_WINDOW).replace("$model_version", ".*")
            out.append((name, title, concrete))
    return out


def test_every_dashboard_query_returns_data(
    stack, kafka_topic_factory, mqtt_client_factory, prometheus_target_factory, tmp_path
):

    topics = make_topics(kafka_topic_factory)
    labeled = kafka_topic_factory(partitions=1, prefix="test.lab")
    status = kafka_topic_factory(partitions=1, prefix="test.status")
    dlq = kafka_topic_factory(partitions=1, prefix="test.dlq")
    producer = stack.kafka.producer(acks="all")
    publish_release(producer, topics.releases, 3)
    producer.send(topics.label_requests, value=b"not a label request").get(30)  # skipped: invalid
    producer.send(topics.predictions, value=b"{}").get(30)  # counted by the processor as invalid

    gateway_port = free_port()
    gateway = ServiceProcess(
        ["gateway", "run", "--client-id", f"gw-{uuid.uuid4().hex[:6]}",
         "--share-group", f"dash{uuid.uuid4().hex[:6]}",
         "--predictions-topic", topics.predictions, "--status-topic", status,
         "--dlq-topic", dlq, "--metrics-port", str(gateway_port)],
        {}, tmp_path / "gateway.log", gateway_port,
    )  # fmt: skip
    processor = processor_process(
        topics,
        tmp_path,
        window_s=3.0,
        grace_s=1.0,
        budget_per_window=10,
        per_device_cap=2,
    )
    labeler = labeler_process(topics.label_requests, labeled, tmp_path)
    loop = loop_services(stack, kafka_topic_factory, tmp_path / "loop")
    services = [gateway, processor, labeler, *loop.services]
    run_id = f"dash{uuid.uuid4().hex[:8]}"  # job label prefix of this test's targets
    stop = threading.Event()
    try:
        for service in services:
            service.start()
            prometheus_target_factory(
                f"127.0.0.1:{service.metrics_port}", labels={"job": f"{run_id}-{service.args[0]}"}
            )
        gateway.wait_for(lambda: "subscribed to" in gateway.tail(100_000), "gateway subscription")
        # the stack's Prometheus may predate the rule files: load them
        urllib.request.urlopen(
            urllib.request.Request(f"{stack.prometheus_url}/-/reload", method="POST"), timeout=10
        )

        devices = [d.id for d in stack.registry.devices[:4]]
        clients = {d: mqtt_client_factory(stack.device(d)) for d in devices}

        def publish() -> None:
            rng, seq = random.Random(5), 0
            while not stop.is_set():
                for device, client in clients.items():
                    event = make_event(rng, device, seq, 3, shifted=seq % 200 >= 100)
                    client.publish(f"fleet/{device}/pred", event.to_bytes())
                    if seq % 20 == 0:
                        client.publish(f"fleet/{device}/pred", event.to_bytes())  # duplicate
                        client.publish(f"fleet/{device}/pred", b"\xff not json")  # to the DLQ
                    seq += 1
                time.sleep(0.02)

        traffic = threading.Thread(target=publish, daemon=True)
        traffic.start()
        loop.drive()
        missing: list = []
        recorded = _recorded()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert traffic.is_alive() and all(s.proc.poll() is None for s in services)
            # every panel returns data, and every metric it reads has series from this
            # test's own targets (not only from other services scraped by the stack)
            missing = [
                (name, title, expr)
                for name, title, expr in _queries()
                if not _instant(stack.prometheus_url, expr)
                or any(
                    not _instant(stack.prometheus_url, f'{metric}{{job=~"{run_id}-.*"}}')
                    for metric in _metrics_read(expr, recorded)
                )
            ]
            labeled = labeler.value("fleet_labeler_labels_total", teacher_id="keyword-double")
            if not missing and labeled > 0:
                break
            time.sleep(2)
        assert not missing, "panels without data:\n" + "\n".join(
            f"{n} / {t}: {e}" for n, t, e in missing
        )
        # a label request was answered: the labeler labeled what the processor sampled
        assert labeled > 0, labeler.tail()
    finally:
        stop.set()
        loop.cleanup(stack.kafka)
        for service in reversed(services[:3]):
            service.stop()
        producer.close()
        delete_topics_with_prefix(stack.kafka, processor.env["FLEET_PROCESSOR_APP_ID"])
