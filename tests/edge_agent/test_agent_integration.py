"""The agent with the real C engine on the real Mosquitto: events, ACLs, OTA over MQTT."""

from __future__ import annotations

import time
import uuid

import pytest

from contract.schemas import parse_device_status, parse_prediction
from contract.topics import device_manifest_topic, group_manifest_topic
from edge_agent.agent import Agent, AgentSettings
from edge_agent.clib import CDevice
from edge_agent.transport import PahoTransport
from services.rollout.chunks import ChunkServer

from .conftest import golden_blob, make_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def real_agent_factory(stack, keys, mqtt_client_factory):
    made = []
    rollout = mqtt_client_factory(stack.service("rollout"))

    def make(device_id: str) -> Agent:
        device = CDevice()
        device.provision(golden_blob(), 1)
        transport = PahoTransport(stack.device(device_id), session_expiry_s=60)
        group = stack.registry.device(device_id).group
        # The broker is shared with earlier runs (make demo publishes retained group manifests
        # signed by its own key): clear what this device would otherwise receive on subscribe.
        for topic in (group_manifest_topic(group), device_manifest_topic(device_id)):
            rollout.publish(topic, b"", retain=True)
        settings = AgentSettings(device_id=device_id, group=group, trusted_key=keys.public_raw)
        agent = Agent(settings, device, transport)
        agent.start()
        assert transport.wait_connected(10)
        made.append(agent)
        return agent

    yield make
    for agent in made:
        agent.close()


@pytest.fixture
def chunk_server_factory(stack):
    clients = []

    def make(blobs: dict[int, bytes]) -> ChunkServer:
        server = ChunkServer(blobs)
        clients.append(server.serve_mqtt(stack.service("rollout")))
        assert server.ready.wait(10)
        return server

    yield make
    for client in clients:
        client.disconnect()
        client.loop_stop()


def test_agent_publishes_prediction_events_and_cannot_pose_as_another_device(
    stack, real_agent_factory, mqtt_client_factory
):
    monitor = mqtt_client_factory(stack.service("monitor"))
    monitor.subscribe("fleet/dev-0003/pred")
    monitor.subscribe("fleet/dev-0004/pred")
    agent = real_agent_factory("dev-0003")
    forged = agent.handle_text("上海仓库存预警通知").model_copy(
        update={"device_id": "dev-0004", "message_id": f"forged-{uuid.uuid4().hex}"}
    )
    agent.transport.publish("fleet/dev-0004/pred", forged.to_bytes())  # dropped by the ACL
    event = agent.handle_text("物流订单号DH20231125状态更新")
    got = {}  # message id -> topic, of this agent's messages only (a demo may be running)
    while (msg := monitor.receive(timeout_s=3)) is not None:
        received = parse_prediction(msg.payload)
        if received.message_id in (forged.message_id, event.message_id):
            got[received.message_id] = (msg.topic, received)
    assert got == {event.message_id: ("fleet/dev-0003/pred", event)}


def test_ota_over_mqtt_good_release_confirmed_bad_signature_refused(
    stack, real_agent_factory, chunk_server_factory, mqtt_client_factory, release_factory
):
    agent = real_agent_factory("dev-0005")
    now = time.time()
    good = release_factory(2, device="dev-0005", issued=now)
    forged = release_factory(3, signer=make_keys(), device="dev-0005", issued=now)
    chunk_server_factory({2: good.blob, 3: forged.blob})
    rollout = mqtt_client_factory(stack.service("rollout"))

    rollout.publish("fleet/dev-0005/ota/manifest", forged.payload())
    assert agent.ota.done.wait(20) and agent.ota.last_result == "rejected"
    assert agent.model_version == 1
    agent.ota.done.clear()
    rollout.publish("fleet/dev-0005/ota/manifest", good.payload())
    assert agent.ota.done.wait(60), "OTA did not finish"
    assert agent.ota.last_result == "confirmed"
    assert agent.device.state().floor_version == 2
    assert agent.handle_text("上海仓库存预警通知").model_version == 2

    monitor = mqtt_client_factory(stack.service("monitor"))
    monitor.subscribe("fleet/dev-0005/status")
    agent.heartbeat()
    versions = []
    while (msg := monitor.receive(timeout_s=3)) is not None and 2 not in versions:
        versions.append(parse_device_status(msg.payload).model_version)
    assert 2 in versions  # the heartbeat reports the new model
