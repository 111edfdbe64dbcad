"""The gateway core against the in-memory sink: routing, DLQ, ack-after-delivery, retries."""

from __future__ import annotations

import time

import pytest

from contract.mqtt import MqttAccess
from contract.schemas import examples
from contract.schemas.dlq import parse_dlq_record
from models.errors import ConfigError
from services.gateway.bridge import Bridge, Topics
from services.gateway.settings import GatewaySettings
from services.gateway.sink import MemorySink
from services.security.kafka import KafkaAccess

TOPICS = Topics(predictions="preds", status="status", dlq="dlq")


class Acks:
    def __init__(self) -> None:
        self.acked: list[str] = []

    def make(self, name: str):
        return lambda: self.acked.append(name)


def wait_for(predicate, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


@pytest.fixture
def bridge_factory():
    bridges: list[Bridge] = []

    def make(sink: MemorySink | None = None) -> tuple[Bridge, MemorySink]:
        sink = sink or MemorySink()
        bridge = Bridge(sink, TOPICS, gateway_id="gw-test", retry_backoff_s=0.01)
        bridges.append(bridge)
        return bridge, sink

    yield make
    for bridge in bridges:
        bridge.close()


def test_valid_prediction_and_status_are_forwarded_keyed_by_device(bridge_factory):
    bridge, sink = bridge_factory()
    acks = Acks()
    event = examples.prediction_event("dev-0007", seq=3)
    status = examples.device_status("dev-0007")
    assert bridge.submit("fleet/dev-0007/pred", event.to_bytes(), acks.make("pred"))
    assert bridge.submit("fleet/dev-0007/status", status.to_bytes(), acks.make("status"))
    wait_for(lambda: len(acks.acked) == 2)
    assert sorted((r.topic, r.key, r.value) for r in sink.records) == sorted(
        [("preds", b"dev-0007", event.to_bytes()), ("status", b"dev-0007", status.to_bytes())]
    )
    assert bridge.in_flight == 0
    assert bridge.metrics.value("fleet_gateway_produced_total", topic="preds") == 1
    assert bridge.metrics.value("fleet_gateway_received_total", kind="status") == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason_part"),
    [
        ("fleet/dev-1/pred", b"{not json", "json"),
        ("fleet/dev-1/pred", b"\xff\xfe\x00", "UTF-8"),
        ("fleet/dev-1/pred", b"[" * 10 + b"]" * 10, "object"),
        ("fleet/dev-1/pred", b'{"schema_version": 1}', "field required"),
        ("fleet/dev-1/pred", b'{"a": "' + b"x" * 70_000 + b'"}', "exceeds"),
        ("fleet/dev-1/status", examples.prediction_event("dev-1").to_bytes(), "kind"),
        ("fleet/dev-1/pred", examples.prediction_event("dev-2").to_bytes(), "differs"),
        ("fleet/dev-1/other", b"{}", "unexpected topic"),
    ],
)
def test_invalid_payloads_go_to_the_dlq_with_reason_and_original_bytes(
    bridge_factory, topic, payload, reason_part
):
    bridge, sink = bridge_factory()
    acks = Acks()
    bridge.submit(topic, payload, acks.make("bad"))
    wait_for(lambda: acks.acked == ["bad"])
    [record] = sink.records
    assert record.topic == "dlq"
    dlq = parse_dlq_record(record.value)
    assert reason_part.lower() in dlq.reason.lower(), dlq.reason
    assert dlq.payload() == payload
    assert dlq.topic == topic
    assert dlq.gateway_id == "gw-test"


def test_ack_waits_for_delivery(bridge_factory):
    sink = MemorySink()
    sink.hold = True
    bridge, _ = bridge_factory(sink)
    acks = Acks()
    for seq in range(5):
        event = examples.prediction_event("dev-1", seq=seq)
        bridge.submit("fleet/dev-1/pred", event.to_bytes(), acks.make(str(seq)))
    wait_for(lambda: bridge.metrics.value("fleet_gateway_received_total", kind="pred") == 5)
    time.sleep(0.05)
    assert acks.acked == [] and bridge.in_flight == 5
    assert bridge.metrics.value("fleet_gateway_in_flight") == 5
    sink.release()
    wait_for(lambda: len(acks.acked) == 5)
    assert bridge.in_flight == 0


def test_failed_deliveries_are_retried_before_the_ack(bridge_factory):
    sink = MemorySink()
    sink.fail_next = 2
    sink.refuse_next = 1
    bridge, _ = bridge_factory(sink)
    acks = Acks()
    event = examples.prediction_event("dev-1", seq=1)
    bridge.submit("fleet/dev-1/pred", event.to_bytes(), acks.make("x"))
    wait_for(lambda: acks.acked == ["x"])
    assert sink.values("preds") == [event.to_bytes()]
    assert bridge.metrics.value("fleet_gateway_errors_total", kind="delivery_failed") == 2
    assert bridge.metrics.value("fleet_gateway_errors_total", kind="sink_refused") == 1


def test_drain_refuses_new_messages_and_waits_for_in_flight(bridge_factory):
    sink = MemorySink()
    sink.hold = True
    bridge, _ = bridge_factory(sink)
    acks = Acks()
    bridge.submit("fleet/dev-1/pred", examples.prediction_event("dev-1").to_bytes(), acks.make("a"))
    assert bridge.drain(timeout_s=0.1) is False  # still held by the sink
    assert not bridge.submit("fleet/dev-1/pred", b"{}", acks.make("late"))
    sink.release()
    assert bridge.drain(timeout_s=5) is True
    assert acks.acked == ["a"]


def test_settings_reject_bad_values():
    with pytest.raises(ConfigError, match="max_in_flight"):
        GatewaySettings(
            mqtt=MqttAccess(host="h", port=1, username="u", password="p"), client_id="c",
            share_group="g", kafka=KafkaAccess(bootstrap="k", username="u", password="p"),
            predictions_topic="a", status_topic="b", dlq_topic="d", max_in_flight=0,
        )  # fmt: skip
