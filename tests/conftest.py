"""Shared fixtures: the real local stack and factories on top of it.

``stack`` (session) reuses a running stack (``fleet stack up``) or starts the missing
components for the session, and at the end stops only what it started, and only when no
other test session still uses it. Set ``FLEET_KEEP_STACK=1`` to leave it running for the
next run. Factories (``kafka_topic_factory``, ``mqtt_client_factory``,
``prometheus_target_factory``) clean up what they created.
"""

from __future__ import annotations

import os

# OpenMP threads that spin while waiting make torch's LSTM steps ~20x slower on a loaded
# 2-core machine; this must be set before torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Tests run services on topics of their own, which the Kafka ACLs give no service: services
# started by the tests (and inheriting this) connect as the stack's admin. The ACLs
# themselves are tested with every service's own principal (tests/integration/
# test_kafka_acls.py), and the demo and the chaos run use each service's own.
os.environ.setdefault("FLEET_SECURITY__KAFKA_ACCOUNT", "admin")

import contextlib
import fcntl
import json
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contract.mqtt import MqttAccess
from services.security.access import Access
from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT, FleetSettings, load_settings
from services.stack import Registry, Stack

KEEP_STACK_ENV = "FLEET_KEEP_STACK"


@dataclass(frozen=True)
class StackHandle:
    """What a test needs to talk to the running stack."""

    settings: FleetSettings
    access: Access  # every account's connection (services.security.access)
    prometheus_url: str  # e.g. "http://127.0.0.1:19090"
    prometheus_targets_dir: Path  # file_sd folder of the "extra" job
    started: tuple[str, ...]  # components this session started (and will stop)

    @property
    def kafka(self) -> KafkaAccess:
        """Kafka as the stack's admin (tests make and read topics of their own)."""
        return self.access.kafka("admin")

    @property
    def registry(self) -> Registry:
        """Devices, groups and service accounts of the broker."""
        return self.access.registry

    def device(self, device_id: str | None = None) -> MqttAccess:
        """A device account (the first one by default)."""
        return self.access.mqtt(device_id or self.registry.devices[0].id)

    def service(self, name: str) -> MqttAccess:
        """A service account: "gateway", "rollout" or "monitor" (reads fleet/#)."""
        return self.access.mqtt(name)


@pytest.fixture(scope="session")
def fleet_settings() -> FleetSettings:
    config = REPO_ROOT / "fleet.toml"
    return load_settings(config if config.is_file() else None)


@pytest.fixture(scope="session")
def stack(fleet_settings: FleetSettings) -> Iterator[StackHandle]:
    local = Stack(fleet_settings)
    data_dir = fleet_settings.stack.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    # Every session holds a shared lease while it uses the stack; the one that started
    # components stops them only if it can take the lease exclusively (nobody else uses it).
    lease = (data_dir / "stack.users").open("w")
    fcntl.flock(lease, fcntl.LOCK_SH)
    try:
        started = tuple(local.up())
        yield StackHandle(
            settings=fleet_settings,
            access=Access(fleet_settings),
            prometheus_url=fleet_settings.prometheus_url,
            prometheus_targets_dir=local.prometheus.targets_dir,
            started=started,
        )
        if started and not os.environ.get(KEEP_STACK_ENV):
            try:
                fcntl.flock(lease, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass  # another session is using it; leave it running
            else:
                local.down(list(started))
    finally:
        lease.close()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_stack_factory(
    fleet_settings: FleetSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    """``make(components=("kafka",)) -> Stack`` started on its own data dir and free ports.

    For tests that stop, restart or break a broker: the shared session ``stack`` is used by
    other tests (and other test sessions) at the same time and must stay up. Everything is
    stopped at the end of the test.
    """
    with _private_stacks(fleet_settings, tmp_path_factory) as make:
        yield make


@pytest.fixture(scope="module")
def module_private_stack_factory(
    fleet_settings: FleetSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    """``private_stack_factory`` whose stacks are stopped at the end of the module: for the
    tests of a module that read a private broker without breaking it."""
    with _private_stacks(fleet_settings, tmp_path_factory) as make:
        yield make


@contextlib.contextmanager
def _private_stacks(
    fleet_settings: FleetSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Stack]]:
    stacks: list[Stack] = []

    def make(
        components: tuple[str, ...] = ("kafka",),
        rules_dir: Path | None = None,
        alertmanager: dict | None = None,
        metrics_ports: dict[str, int] | None = None,
    ) -> Stack:
        """``rules_dir``: Prometheus' rule files; ``alertmanager``: its settings' fields;
        ``metrics_ports``: service ports (e.g. the control API the alerts go to)."""
        data_dir = tmp_path_factory.mktemp("private-stack")
        s = fleet_settings.stack
        am = s.alertmanager.model_copy(update={"port": _free_port(), **(alertmanager or {})})
        settings = fleet_settings.model_copy(
            update={
                "stack": s.model_copy(
                    update={
                        "data_dir": data_dir,
                        "kafka": s.kafka.model_copy(
                            update={"port": _free_port(), "controller_port": _free_port()}
                        ),
                        "mosquitto": s.mosquitto.model_copy(
                            update={"port": _free_port(), "service_port": _free_port()}
                        ),
                        "prometheus": s.prometheus.model_copy(update={"port": _free_port()}),
                        "alertmanager": am,
                        "prometheus_rules_dir": rules_dir or s.prometheus_rules_dir,
                    }
                ),
                "metrics_ports": fleet_settings.metrics_ports.model_copy(
                    update=metrics_ports or {}
                ),
            }
        )
        private = Stack(settings)
        stacks.append(private)
        private.up(list(components))
        return private

    try:
        yield make
    finally:
        for private in stacks:
            private.down()


# -- Kafka --------------------------------------------------------------------------------


@pytest.fixture
def kafka_topic_factory(stack: StackHandle) -> Iterator[Callable[..., str]]:
    """``make(partitions=1, compacted=False, prefix="test") -> name`` of a fresh topic."""

    admin = stack.kafka.admin(client_id="tests")
    created: list[str] = []

    def make(partitions: int = 1, compacted: bool = False, prefix: str = "test") -> str:
        name = f"{prefix}.{uuid.uuid4().hex[:12]}"
        configs = {"cleanup.policy": "compact"} if compacted else {}
        admin.create_topics(
            {name: {"num_partitions": partitions, "replication_factor": 1, "configs": configs}},
            timeout_ms=30_000,
            wait_for_metadata=True,
        )
        created.append(name)
        return name

    yield make
    with contextlib.suppress(Exception):
        if created:
            admin.delete_topics(created, timeout_ms=30_000)
    admin.close()


# -- MQTT ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool


class MqttTestClient:
    """A connected paho client whose received messages land in ``inbox``."""

    def __init__(self, account: MqttAccess, client_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.inbox: queue.Queue[Received] = queue.Queue()
        self._connected = threading.Event()
        self._subscribed: dict[int, tuple[threading.Event, list[int]]] = {}
        self.connect_reason: str = ""
        self.disconnects = 0  # times the broker closed this connection
        self.client = account.client(client_id, protocol=mqtt.MQTTv311)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.connect(account.host, account.port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self.connect_reason = str(reason_code)
        if not reason_code.is_failure:
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self.disconnects += 1

    def _on_message(self, client, userdata, message) -> None:
        self.inbox.put(Received(message.topic, message.payload, message.qos, message.retain))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        event, codes = self._subscribed.setdefault(mid, (threading.Event(), []))
        codes.extend(int(rc.value) for rc in reason_codes)
        event.set()

    def wait_connected(self, timeout_s: float = 10) -> bool:
        return self._connected.wait(timeout_s)

    def subscribe(self, topic: str, qos: int = 1, timeout_s: float = 10) -> int:
        """Subscribe and return the granted QoS (128 = refused by the broker's ACL)."""
        result, mid = self.client.subscribe(topic, qos)
        assert result == 0, f"subscribe {topic} failed locally: {result}"
        event, codes = self._subscribed.setdefault(mid, (threading.Event(), []))
        assert event.wait(timeout_s), f"no SUBACK for {topic}"
        return codes[0]

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=10)
        assert info.is_published(), f"publish to {topic} not acknowledged"

    def receive(self, timeout_s: float = 10) -> Received | None:
        try:
            return self.inbox.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def mqtt_client_factory(stack: StackHandle) -> Iterator[Callable[..., MqttTestClient]]:
    """``make(account, client_id=None, wait=True) -> MqttTestClient`` (connected).

    ``account`` is ``stack.device(...)`` or ``stack.service(...)``; only one connection per
    device account can be open at a time (the broker uses its username as client id)."""
    clients: list[MqttTestClient] = []

    def make(
        account: MqttAccess, client_id: str | None = None, wait: bool = True
    ) -> MqttTestClient:
        client = MqttTestClient(account, client_id or f"test-{uuid.uuid4().hex[:10]}")
        clients.append(client)
        if wait:
            assert client.wait_connected(), f"{account.username}: {client.connect_reason}"
        return client

    yield make
    for client in clients:
        client.close()


# -- Prometheus ---------------------------------------------------------------------------


@pytest.fixture
def prometheus_target_factory(stack: StackHandle) -> Iterator[Callable[..., str]]:
    """``add("127.0.0.1:PORT", labels={...}) -> job`` makes Prometheus scrape it (job
    "extra" unless labels name one), every ``extra_scrape_interval_s``, until the test ends."""
    files: list[Path] = []

    def add(target: str, labels: dict[str, str] | None = None) -> str:
        labels = {"job": "extra", **(labels or {})}
        path = stack.prometheus_targets_dir / f"test-{uuid.uuid4().hex[:12]}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([{"targets": [target], "labels": labels}]))
        tmp.replace(path)  # file_sd must never see a half-written file
        files.append(path)
        return labels["job"]

    yield add
    for path in files:
        path.unlink(missing_ok=True)
