"""Factories for gateway integration tests: gateway processes, a fast device publisher and a
Kafka reader."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class GatewayTopics:
    predictions: str
    status: str
    dlq: str
    share_group: str  # unique per test, so no other gateway takes a share


class GatewayProcess:
    """``fleet gateway run`` as a child process with its log in ``log_path``."""

    def __init__(self, topics: GatewayTopics, client_id: str, log_path: Path, metrics_port: int):
        self.topics = topics
        self.client_id = client_id
        self.log_path = log_path
        self.metrics_port = metrics_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 30) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        argv = [
            sys.executable, "-m", "services.cli", "gateway", "run",
            "--client-id", self.client_id, "--share-group", self.topics.share_group,
            "--predictions-topic", self.topics.predictions, "--status-topic", self.topics.status,
            "--dlq-topic", self.topics.dlq, "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while "subscribed to" not in self.log_path.read_bytes()[offset:].decode(errors="replace"):
            assert self.proc.poll() is None, f"gateway exited: {self.log()}"
            assert time.monotonic() < deadline, f"gateway did not subscribe: {self.log()}"
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout_s)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@pytest.fixture
def gateway_topics(kafka_topic_factory) -> GatewayTopics:
    return GatewayTopics(
        predictions=kafka_topic_factory(partitions=3, prefix="test.pred"),
        status=kafka_topic_factory(partitions=1, prefix="test.status"),
        dlq=kafka_topic_factory(partitions=1, prefix="test.dlq"),
        share_group=f"gw{uuid.uuid4().hex[:8]}",
    )


@pytest.fixture
def isolated_gateway_topics(stack) -> Iterator[GatewayTopics]:
    """Like ``gateway_topics`` but no admin client stays open during the test (kafka-python
    leaks the sockets of its failed reconnects when a client is alive across a broker
    restart)."""
    from kafka.admin import NewTopic

    suffix = uuid.uuid4().hex[:12]
    topics = GatewayTopics(
        f"test.pred.{suffix}", f"test.status.{suffix}", f"test.dlq.{suffix}", f"gw{suffix[:8]}"
    )
    names = [topics.predictions, topics.status, topics.dlq]
    admin = stack.kafka.admin(client_id="tests")
    try:
        admin.create_topics([NewTopic(n, 3, 1) for n in names], timeout_ms=30_000)
    finally:
        admin.close()
    yield topics
    admin = stack.kafka.admin(client_id="tests")
    try:
        admin.delete_topics(names, timeout_ms=30_000)
    finally:
        admin.close()


@pytest.fixture
def gateway_factory(stack, tmp_path) -> Iterator[Callable[..., GatewayProcess]]:
    """``make(topics, client_id=None) -> GatewayProcess`` (started); killed at teardown."""
    made: list[GatewayProcess] = []

    def make(topics: GatewayTopics, client_id: str | None = None) -> GatewayProcess:
        client_id = client_id or f"gw-{uuid.uuid4().hex[:8]}"
        gateway = GatewayProcess(topics, client_id, tmp_path / f"{client_id}.log", free_port())
        made.append(gateway)
        gateway.start()
        return gateway

    yield make
    from services.errors import ServiceError
    from services.gateway.mqtt import end_session
    from services.gateway.settings import GatewaySettings

    for gateway in made:
        if gateway.alive():
            gateway.kill()
        # the test's share group is never used again: do not let the broker queue later
        # tests' messages for this session until it expires
        with contextlib.suppress(OSError, ServiceError):  # a broker stopped by the test
            end_session(GatewaySettings.from_fleet(stack.access, client_id=gateway.client_id))


def read_topic(
    kafka: KafkaAccess, topic: str, until: Callable[[list], bool], timeout_s: float = 60
) -> list:
    """All records of ``topic`` from the beginning, polling until ``until(records)``."""

    consumer = kafka.consumer(topic, auto_offset_reset="earliest",
        enable_auto_commit=False, group_id=None, consumer_timeout_ms=1000)  # fmt: skip
    records: list = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not until(records):
            for batch in consumer.poll(timeout_ms=500, max_records=5000).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


class FastPublisher:
    """Publishes prediction events at QoS 1 from device accounts on a background thread."""

    def __init__(self, stack, device_ids: list[str], count: int, rate: float | None = None):
        import paho.mqtt.client as mqtt

        from contract.schemas import examples

        self.sent: list[str] = []
        self.errors: list[str] = []
        self._count = count
        self._rate = rate
        self._examples = examples
        self._clients = []
        for device_id in device_ids:
            account = stack.device(device_id)
            client = account.client(protocol=mqtt.MQTTv311)
            client.max_inflight_messages_set(100)
            client.max_queued_messages_set(0)
            client.connect(account.host, account.port, keepalive=30)
            client.loop_start()
            self._clients.append((device_id, client))
        self.run_id = uuid.uuid4().hex[:8]
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> FastPublisher:
        self.thread.start()
        return self

    def _run(self) -> None:
        infos = []
        start = time.monotonic()
        for i in range(self._count):
            device_id, client = self._clients[i % len(self._clients)]
            event = self._examples.prediction_event(device_id, seq=i)
            message_id = f"{device_id}-{self.run_id}-{i}"
            payload = event.model_copy(update={"message_id": message_id}).to_bytes()
            infos.append(client.publish(f"fleet/{device_id}/pred", payload, qos=1))
            self.sent.append(message_id)
            if self._rate:
                lag = start + (i + 1) / self._rate - time.monotonic()
                if lag > 0:
                    time.sleep(lag)
        for info in infos:
            info.wait_for_publish(timeout=60)
            if not info.is_published():
                self.errors.append(f"mid {info.mid} not acknowledged")

    def join(self, timeout_s: float = 120) -> None:
        self.thread.join(timeout_s)
        assert not self.thread.is_alive(), "publisher did not finish"

    def close(self) -> None:
        for _, client in self._clients:
            client.disconnect()
            client.loop_stop()


@pytest.fixture
def publisher_factory(stack) -> Iterator[Callable[..., FastPublisher]]:
    """``make(device_ids, count, rate=None) -> FastPublisher`` (not started)."""
    made: list[FastPublisher] = []

    def make(device_ids: list[str], count: int, rate: float | None = None) -> FastPublisher:
        publisher = FastPublisher(stack, device_ids, count, rate)
        made.append(publisher)
        return publisher

    yield make
    for publisher in made:
        publisher.close()
