"""No device speaks for another or for the whole fleet: message ids bound to the topic's
device, and a per-device rate limit whose excess goes to the DLQ with the reason."""

from __future__ import annotations

import time

import pytest

from contract.schemas import examples
from contract.schemas.dlq import parse_dlq_record
from services.gateway.bridge import Bridge, Topics
from services.gateway.guard import PRUNE_EVERY, DeviceGuard
from services.gateway.metrics import GatewayMetrics
from services.gateway.sink import MemorySink

TOPICS = Topics(predictions="preds", status="status", dlq="dlq")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def wait_for(predicate, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def guarded():
    bridges: list[Bridge] = []

    def make(rate_per_s: float = 0, burst: int = 1) -> tuple[Bridge, MemorySink, Clock]:
        clock, sink, metrics = Clock(), MemorySink(), GatewayMetrics()
        guard = DeviceGuard(rate_per_s, burst, metrics.registry, clock=clock)
        bridge = Bridge(sink, TOPICS, metrics, "gw-test", retry_backoff_s=0.01, guard=guard)
        bridges.append(bridge)
        return bridge, sink, clock

    yield make
    for bridge in bridges:
        bridge.close()


def send(bridge: Bridge, device: str, seq: int, message_id: str | None = None) -> None:
    event = examples.prediction_event(device, seq=seq)
    if message_id is not None:
        event = event.model_copy(update={"message_id": message_id})
    bridge.submit(f"fleet/{device}/pred", event.to_bytes(), lambda: None)


def reasons(sink: MemorySink) -> list[str]:
    return [parse_dlq_record(r.value).reason for r in sink.records if r.topic == "dlq"]


def test_a_message_id_of_another_device_is_refused(guarded):
    bridge, sink, _ = guarded()
    send(bridge, "dev-0002", 1, message_id="dev-0001-7")  # pre-empts dev-0001's next id
    send(bridge, "dev-0002", 2, message_id="dev-0002-boot1-2")
    wait_for(lambda: bridge.in_flight == 0 and len(sink.records) == 2)
    assert [len(sink.values("preds")), len(sink.values("dlq"))] == [1, 1]
    assert "does not belong to device 'dev-0002'" in reasons(sink)[0]


def test_a_device_over_its_rate_goes_to_the_dlq_and_is_counted(guarded):
    bridge, sink, clock = guarded(rate_per_s=2, burst=3)
    for seq in range(5):
        send(bridge, "dev-0001", seq)
    send(bridge, "dev-0002", 0)  # another device has its own bucket
    wait_for(lambda: bridge.in_flight == 0 and len(sink.records) == 6)
    assert len(sink.values("preds")) == 4 and len(reasons(sink)) == 2
    assert all("over its rate limit" in r for r in reasons(sink))
    assert bridge.metrics.value("fleet_gateway_rate_limited_total") == 2
    clock.now += 1.0  # two tokens back
    for seq in range(5, 8):
        send(bridge, "dev-0001", seq)
    wait_for(lambda: bridge.in_flight == 0 and len(sink.records) == 9)
    assert len(sink.values("preds")) == 6
    assert bridge.metrics.value("fleet_gateway_rate_limited_total") == 3


def test_full_buckets_are_forgotten():
    clock = Clock()
    guard = DeviceGuard(10, 5, GatewayMetrics().registry, clock=clock)
    for i in range(PRUNE_EVERY - 1):
        guard.admit(f"dev-{i}")
    clock.now += 1.0  # every bucket is full again
    guard.admit("dev-last")
    assert list(guard._buckets) == ["dev-last"]
