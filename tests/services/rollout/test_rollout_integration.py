"""The rollout manager against the real Mosquitto and Kafka, with the real gateway bridging the
devices' reports, and six registry devices running the real OTA client: the canary group's
dev-0001/2 on the C engine and four simulator accounts of the fleet group on the in-memory
device, picked at random per test from the upper half of the simulator accounts. Other tests'
agents also follow the fleet's retained manifest and report rejections of releases signed with
this test's key; dev-0003.. and the demo's simulator devices (the first 50) are avoided."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from benchmarks.harness.service_process import delete_topics_with_prefix
from contract.schemas import ReleaseManifest, parse_device_status
from edge_agent.agent import Agent, AgentSettings
from edge_agent.clib import CDevice
from edge_agent.memory import MemoryDevice
from edge_agent.transport import PahoTransport
from models.blob import restamp_blob
from services.gateway.service import run as run_gateway
from services.gateway.settings import GatewaySettings
from services.releases.announce import KafkaAnnouncer
from services.releases.keys import load_or_create_key, public_bytes
from services.releases.store import ReleaseStore
from services.rollout.metrics import RolloutMetrics
from services.rollout.service import run as run_rollout
from services.rollout.settings import RolloutSettings, StageSpec
from services.rollout.state import read_records
from services.security.kafka import KafkaAccess

from .conftest import Releases, golden_blob

pytestmark = pytest.mark.integration

CANARY = ("dev-0001", "dev-0002")
GROUP_TOPICS = ("fleet/groups/canary/ota", "fleet/groups/fleet/ota")


@dataclass
class Topics:
    releases: str
    status: str
    ops: str
    state: str


class ManagerThread:
    """``services.rollout.service.run`` on a thread; ``restart()`` is a stop and a fresh start."""

    def __init__(self, settings: RolloutSettings, groups: dict[str, str]) -> None:
        self.settings, self.groups = settings, groups
        self.thread: threading.Thread | None = None
        self.stop_event = threading.Event()
        self.metrics = RolloutMetrics.create()

    def start(self) -> None:
        self.stop_event, self.metrics, ready = (
            threading.Event(), RolloutMetrics.create(), threading.Event()
        )  # fmt: skip
        args = (self.settings, self.groups, self.stop_event, self.metrics, ready)
        self.thread = threading.Thread(target=run_rollout, args=args, daemon=True)
        self.thread.start()
        assert ready.wait(60), "rollout manager did not start"

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(60)
            assert not self.thread.is_alive(), "rollout manager did not stop"

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class RolloutHarness:
    topics: Topics
    releases: Releases
    manager: ManagerThread
    agents: dict[str, Agent]
    groups: dict[str, str]
    kafka: KafkaAccess

    @property
    def metrics(self) -> RolloutMetrics:
        return self.manager.metrics

    def publish(self, manifest: ReleaseManifest) -> None:
        """What the distiller does with a stored release."""
        KafkaAnnouncer(self.kafka, self.topics.releases).publish(manifest)

    def records(self):
        return read_records(self.kafka, self.topics.state)

    def status_of(self, version: int) -> str | None:
        record = self.records().get(version)
        return record.status if record else None

    def wait(self, what: str, done: Callable[[], bool], timeout_s: float = 40) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.2)

    def versions(self, group: str | None = None) -> set[int]:
        return {
            a.model_version
            for d, a in self.agents.items()
            if group is None or self.groups[d] == group
        }


def clear_retained(client) -> None:
    for topic in GROUP_TOPICS:
        client.publish(topic, b"", retain=True)


@pytest.fixture
def rollout_harness_factory(stack, kafka_topic_factory, mqtt_client_factory, tmp_path):
    """``make(**settings) -> RolloutHarness``: gateway + rollout manager (threads) on fresh
    topics and the six devices' agents, all stopped at teardown."""
    with contextlib.ExitStack() as stack_of_harnesses:

        def make(**overrides) -> RolloutHarness:
            return stack_of_harnesses.enter_context(
                _harness(stack, kafka_topic_factory, mqtt_client_factory, tmp_path, overrides)
            )

        yield make


@pytest.fixture
def rollout_harness(rollout_harness_factory):
    return rollout_harness_factory()


@contextlib.contextmanager
def _harness(stack, kafka_topic_factory, mqtt_client_factory, tmp_path, overrides):
    topics = Topics(
        releases=kafka_topic_factory(compacted=True, prefix="test.releases"),
        status=kafka_topic_factory(partitions=2, prefix="test.status"),
        ops=kafka_topic_factory(prefix="test.ops"),
        state=f"test.rollouts.{uuid.uuid4().hex[:12]}",  # the manager creates it, compacted
    )
    janitor = mqtt_client_factory(stack.service("rollout"))
    clear_retained(janitor)  # no manifest of an earlier run
    keys_dir = tmp_path / "keys"
    releases = Releases(tmp_path / "releases", keys_dir, load_or_create_key(keys_dir))
    stop = threading.Event()
    threads = []
    suffix = uuid.uuid4().hex[:8]
    gateway = GatewaySettings.from_fleet(
        stack.access, client_id=f"gw-rollout-{suffix}",
        share_group=f"gw{suffix}", predictions_topic=kafka_topic_factory(prefix="test.pred"),
        status_topic=topics.status, dlq_topic=kafka_topic_factory(prefix="test.dlq"),
        metrics_port=0, session_expiry_s=0,
    )  # fmt: skip
    threads.append(threading.Thread(target=run_gateway, args=(gateway, stop), daemon=True))
    settings = RolloutSettings(
        kafka=stack.kafka, group_id=f"rollout-{suffix}",
        releases_topic=topics.releases, status_topic=topics.status, ops_topic=topics.ops,
        state_topic=topics.state, mqtt=stack.service("rollout"), release_root=releases.root,
        keys_dir=keys_dir, metrics_port=0, tick_s=0.2,
        **{"stages": (
            StageSpec(group="canary", min_confirmed=1.0, max_failed=0.0, bake_s=1.0,
                      timeout_s=60.0),
            StageSpec(group="fleet", min_confirmed=1.0, max_failed=0.25, timeout_s=60.0),
        ), **overrides},
    )  # fmt: skip
    sims = [d.id for d in stack.registry.group_members("fleet") if d.id.startswith("sim-")]
    devices = [*CANARY, *sorted(random.sample(sims[len(sims) // 2 :], 4))]
    groups = {d: stack.registry.device(d).group for d in devices}
    manager = ManagerThread(settings, groups)
    for thread in threads:
        thread.start()
    agents: dict[str, Agent] = {}
    try:
        manager.start()
        for device_id in devices:
            device = CDevice() if groups[device_id] == "canary" else MemoryDevice()
            device.provision(golden_blob(), 1)
            transport = PahoTransport(stack.device(device_id), session_expiry_s=0)
            agent_settings = AgentSettings(
                device_id=device_id, group=groups[device_id],
                trusted_key=public_bytes(releases.key), chunk_size=16_384,
            )  # fmt: skip
            agents[device_id] = Agent(agent_settings, device, transport)
            agents[device_id].start()
        harness = RolloutHarness(topics, releases, manager, agents, groups, stack.kafka)

        def all_seen() -> bool:  # heartbeats until the gateway's subscription carries them
            for agent in agents.values():
                agent.heartbeat()
            return harness.metrics.registry.get_sample_value("fleet_rollout_devices_seen") == 6

        harness.wait("the manager to see every device", all_seen)
        yield harness
    finally:
        for agent in agents.values():
            agent.close()
        manager.stop()
        stop.set()
        for thread in threads:
            thread.join(60)
        clear_retained(janitor)
        delete_topics_with_prefix(stack.kafka, topics.state)


def status_reports(kafka: KafkaAccess, topic: str) -> list:
    from kafka import TopicPartition

    consumer = kafka.consumer(enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        out = []
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            for batch in consumer.poll(timeout_ms=500).values():
                out.extend(parse_device_status(m.value) for m in batch)
        return out
    finally:
        consumer.close()


def test_release_goes_canary_then_fleet_and_a_failing_one_halts_and_rolls_forward(
    rollout_harness, mqtt_client_factory, stack
):
    h = rollout_harness
    fleet_manifests = mqtt_client_factory(stack.service("monitor"))
    fleet_manifests.subscribe("fleet/groups/fleet/ota")
    base = 1000 + uuid.uuid4().int % 10**6 * 3  # versions no other test's devices know

    # 1. A good release: canary first, then the fleet; every device confirms.
    good = h.releases.add(base)
    h.publish(good)
    h.wait("every device on the good release", lambda: h.versions() == {base})
    h.wait("the rollout to complete", lambda: h.status_of(base) == "completed")
    reports = [
        s for s in status_reports(h.kafka, h.topics.status)
        if s.ota is not None and s.ota.release_version == base and s.device_id in h.groups
    ]  # fmt: skip
    canary_confirmed = [s.ts for s in reports if s.device_id in CANARY
                        and s.ota is not None and s.ota.step == "confirmed"]  # fmt: skip
    fleet_received = [s.ts for s in reports if h.groups[s.device_id] == "fleet"
                      and s.ota is not None and s.ota.step == "manifest_received"]  # fmt: skip
    assert len(canary_confirmed) == 2 and len(fleet_received) == 4
    assert max(canary_confirmed) < min(fleet_received)  # the fleet waited for the canary

    # 2. A release whose self-test fails on the devices: halted at canary, rolled forward.
    bad = h.releases.add(base + 1, selftest_ok=False)
    h.publish(bad)
    h.wait("the canary on the roll-forward release", lambda: h.versions("canary") == {base + 2})
    h.wait("the roll-forward to complete", lambda: h.status_of(base + 2) == "completed")
    records = h.records()
    assert records[base + 1].status == "rolled_back"
    # The first revert halts it; the other canary device may get the roll-forward mid-download,
    # and then refuses the revoked release (rejected) instead of reverting from it.
    outcomes = set(records[base + 1].stages[0].outcomes.values())
    assert "reverted" in outcomes and outcomes <= {"reverted", "rejected"}, outcomes
    assert records[base + 1].stages[1].status == "waiting"
    assert (records[base + 2].kind, records[base + 2].weights_of) == ("rollback", base)
    assert h.versions("fleet") == {base}
    store = ReleaseStore(h.releases.root)
    assert restamp_blob(store.blob(base + 2), base) == store.blob(base)  # the earlier weights
    seen_on_fleet_topic = []
    while (msg := fleet_manifests.receive(timeout_s=0.5)) is not None:
        if msg.payload:
            seen_on_fleet_topic.append(ReleaseManifest.model_validate_json(msg.payload).version)
    assert base in seen_on_fleet_topic and base + 1 not in seen_on_fleet_topic
    assert h.metrics.registry.get_sample_value("fleet_rollout_rollbacks_total") == 1
    assert h.metrics.registry.get_sample_value("fleet_rollout_chunks_served") > 0


def test_ops_rollout_and_halt_over_kafka_and_the_status_command(
    rollout_harness_factory, mqtt_client_factory, stack, monkeypatch
):
    from typer.testing import CliRunner

    from contract.schemas import Halt, Rollout
    from services.cli import build_app

    slow_canary = StageSpec(group="canary", bake_s=600.0, timeout_s=600.0)
    h = rollout_harness_factory(auto_start=False, stages=(slow_canary, StageSpec(group="fleet")))
    base = 1000 + uuid.uuid4().int % 10**6 * 3
    h.publish(h.releases.add(base))
    h.wait("the release to be pending", lambda: h.status_of(base) == "pending")
    assert h.versions() == {1}  # nothing shipped without an ops Rollout

    producer = h.kafka.producer(acks="all")
    try:
        # a group that is not a configured stage: refused, and the manager carries on
        poison = Rollout(
            command_id=f"x-{base}", issued_by="sre", ts=time.time(), version=base, groups=["Can"]
        )
        producer.send(h.topics.ops, value=poison.to_bytes()).get(30)
        for command in (
            Rollout(command_id=f"r-{base}", issued_by="sre", ts=time.time(), version=base),
            Halt(command_id=f"h-{base}", issued_by="sre", ts=time.time(), reason="bake check"),
        ):
            producer.send(h.topics.ops, value=command.to_bytes()).get(30)
            if isinstance(command, Rollout):
                h.wait("the canary on the release", lambda: h.versions("canary") == {base})
    finally:
        producer.close()
    h.wait("the halt", lambda: h.status_of(base) == "halted")
    assert h.versions("fleet") == {1}
    assert h.manager.thread is not None and h.manager.thread.is_alive()
    refused = {"command": "rollout", "result": "refused"}
    assert h.metrics.registry.get_sample_value("fleet_rollout_commands_total", refused) == 1
    canary_topic = mqtt_client_factory(stack.service("monitor"))
    canary_topic.subscribe("fleet/groups/canary/ota")
    assert canary_topic.receive(timeout_s=1) is None  # cleared: no good release before it

    monkeypatch.setenv("FLEET_ROLLOUT_STATE_TOPIC", h.topics.state)
    result = CliRunner().invoke(build_app(), ["rollout", "status", "--version", str(base)])
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.output)
    assert record["status"] == "halted" and "bake check" in record["reason"]
    assert record["commands"] == [f"r-{base}", f"h-{base}"]
    assert record["stages"][0]["outcomes"] == {"dev-0001": "confirmed", "dev-0002": "confirmed"}


def test_a_restarted_manager_resumes_the_rollout_from_the_state_topic(rollout_harness_factory):
    canary = StageSpec(group="canary", bake_s=4.0, timeout_s=60.0)
    h = rollout_harness_factory(stages=(canary, StageSpec(group="fleet", timeout_s=60.0)))
    base = 1000 + uuid.uuid4().int % 10**6 * 3
    h.publish(h.releases.add(base))
    h.wait("the canary on the release", lambda: h.versions("canary") == {base})
    h.manager.restart()  # during the canary's bake
    assert h.metrics.registry.get_sample_value("fleet_rollout_devices_seen") == 6  # from Kafka
    h.wait("every device on the release", lambda: h.versions() == {base})
    h.wait("the rollout to complete", lambda: h.status_of(base) == "completed")
    record = h.records()[base]
    assert [e.event for e in record.history].count("stage_started") == 2  # canary once, fleet
    assert record.stages[1].population == sorted(d for d, g in h.groups.items() if g == "fleet")
