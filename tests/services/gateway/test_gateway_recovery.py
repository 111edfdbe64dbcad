"""Nothing is lost when the gateway is SIGKILLed or Kafka restarts in the middle of a stream
(duplicates are allowed: consumers deduplicate by message id)."""

from __future__ import annotations

import time
import uuid

import pytest

from contract.schemas import parse_prediction
from services.stack import Stack

from .conftest import read_topic

pytestmark = pytest.mark.integration

DEVICES = ["dev-0001", "dev-0002", "dev-0003", "dev-0004", "dev-0005", "dev-0006"]


def message_ids(records) -> list[str]:
    return [parse_prediction(r.value).message_id for r in records]


def wait_all(stack, topic: str, sent: list[str], timeout_s: float) -> list[str]:
    """Ids of ``sent`` found in ``topic`` (with duplicates) once all are there, or at timeout.
    Other devices' traffic (a demo running on the same broker) is ignored."""
    wanted = set(sent)
    ids: list[str] = []
    seen = 0

    def done(records) -> bool:
        nonlocal seen
        ids.extend(i for i in message_ids(records[seen:]) if i in wanted)
        seen = len(records)
        return wanted <= set(ids)

    read_topic(stack.kafka, topic, done, timeout_s=timeout_s)
    return ids


def test_sigkilled_gateway_restarts_and_loses_nothing(
    stack, gateway_topics, gateway_factory, publisher_factory
):
    client_id = f"gw-kill-{uuid.uuid4().hex[:6]}"
    gateway = gateway_factory(gateway_topics, client_id=client_id)
    publisher = publisher_factory(DEVICES, count=10_000, rate=2500).start()
    time.sleep(1.5)  # a few thousand messages in, some of them in flight
    gateway.kill()
    time.sleep(1.0)  # publishing goes on; the broker queues for the gateway's session
    gateway.start()
    publisher.join()
    assert publisher.errors == []
    got = wait_all(stack, gateway_topics.predictions, publisher.sent, timeout_s=90)
    assert set(got) == set(publisher.sent), f"lost {len(set(publisher.sent) - set(got))}"
    assert len(publisher.sent) == 10_000
    assert gateway.terminate() == 0, gateway.log()


def test_kafka_restart_mid_stream_loses_nothing(
    stack, isolated_gateway_topics, gateway_factory, publisher_factory
):
    gateway_topics = isolated_gateway_topics
    gateway = gateway_factory(gateway_topics)
    publisher = publisher_factory(DEVICES, count=3000, rate=600).start()
    time.sleep(1.0)
    local = Stack(stack.settings)
    assert local.down(["kafka"]) == ["kafka"]
    time.sleep(1.0)  # the gateway keeps receiving; deliveries fail and are retried
    local.up(["kafka"])
    publisher.join()
    assert publisher.errors == []
    got = wait_all(stack, gateway_topics.predictions, publisher.sent, timeout_s=120)
    assert set(got) == set(publisher.sent), f"lost {len(set(publisher.sent) - set(got))}"
    assert gateway.alive()
    assert gateway.terminate() == 0, gateway.log()


def test_sigterm_drains_and_a_restart_picks_up_the_rest(
    stack, gateway_topics, gateway_factory, publisher_factory
):
    client_id = f"gw-term-{uuid.uuid4().hex[:6]}"
    gateway = gateway_factory(gateway_topics, client_id=client_id)
    publisher = publisher_factory(DEVICES, count=3000, rate=1000).start()
    time.sleep(1.0)
    assert gateway.terminate() == 0, gateway.log()  # 0 = every accepted message acknowledged
    assert "drained" in gateway.log()
    gateway.start()
    publisher.join()
    got = wait_all(stack, gateway_topics.predictions, publisher.sent, timeout_s=60)
    assert set(got) == set(publisher.sent), f"lost {len(set(publisher.sent) - set(got))}"
    assert gateway.terminate() == 0, gateway.log()
