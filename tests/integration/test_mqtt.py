"""Mosquitto with the registry's accounts: devices publish their own topics only, log in on
their own listener with their own generated secret, and cannot take over another's session."""

from __future__ import annotations

import socket
import ssl
import stat
import subprocess
import uuid

import pytest

from contract.schemas import examples, parse_prediction
from services.settings import REPO_ROOT

pytestmark = pytest.mark.integration


def test_device_publishes_and_gateway_receives_via_shared_subscription(stack, mqtt_client_factory):
    gateway = mqtt_client_factory(stack.service("gateway"))
    # A share group of its own: a stopped gateway's persistent session (e.g. the demo's) still
    # takes its turn in the "gateway" group and would receive this message instead.
    group = f"t{uuid.uuid4().hex[:8]}"
    assert gateway.subscribe(f"$share/{group}/fleet/+/pred", qos=1) == 1
    device = mqtt_client_factory(stack.device("dev-0001"))
    event = examples.prediction_event(device_id="dev-0001", seq=7)
    device.publish("fleet/dev-0001/pred", event.to_bytes(), qos=1)
    received = gateway.receive(timeout_s=10)
    assert received is not None, "gateway got nothing"
    assert received.topic == "fleet/dev-0001/pred"
    assert parse_prediction(received.payload) == event


def test_device_cannot_publish_on_another_devices_topic(stack, mqtt_client_factory):
    monitor = mqtt_client_factory(stack.service("monitor"))
    assert monitor.subscribe("fleet/+/pred", qos=1) == 1
    attacker = mqtt_client_factory(stack.device("dev-0001"))
    marker = uuid.uuid4().hex.encode()
    attacker.publish("fleet/dev-0002/pred", b"forged " + marker, qos=1)  # acked, then dropped
    attacker.publish("fleet/dev-0001/pred", b"own " + marker, qos=1)
    received = monitor.receive(timeout_s=10)
    # Mosquitto keeps per-client order, so the forged message would arrive first.
    assert received is not None
    assert received.payload == b"own " + marker, received
    assert monitor.receive(timeout_s=1) is None


def test_device_receives_only_its_own_ota_and_group_manifest(stack, mqtt_client_factory):
    # Mosquitto 2.0 grants a v3.1.1 SUBSCRIBE and applies the read ACL on delivery.
    device = stack.registry.device("dev-0003")
    other = next(d for d in stack.registry.devices if d.group != device.group)
    client = mqtt_client_factory(stack.device(device.id))
    for topic in (
        f"fleet/{device.id}/ota/#",
        f"fleet/groups/{device.group}/ota",
        f"fleet/{other.id}/ota/#",
        f"fleet/groups/{other.group}/ota",
        "fleet/+/pred",
    ):
        client.subscribe(topic)
    rollout = mqtt_client_factory(stack.service("rollout"))
    marker = uuid.uuid4().hex
    rollout.publish(f"fleet/{other.id}/ota/chunk", f"other-chunk {marker}".encode())
    rollout.publish(f"fleet/groups/{other.group}/ota", f"other-group {marker}".encode())
    rollout.publish(f"fleet/{device.id}/ota/chunk", f"own-chunk {marker}".encode())
    rollout.publish(f"fleet/groups/{device.group}/ota", f"own-group {marker}".encode())
    mqtt_client_factory(stack.device(other.id)).publish(f"fleet/{other.id}/pred", b"pred")
    got, retained = [], []
    while (message := client.receive(timeout_s=2)) is not None:
        # a retained group manifest left by a rollout on this broker arrives at subscribe;
        # it must still be one the device may read
        (retained if message.retain else got).append(message)
    assert sorted(m.payload.decode() for m in got) == sorted(
        [f"own-chunk {marker}", f"own-group {marker}"]
    )
    assert all(m.topic == f"fleet/groups/{device.group}/ota" for m in retained), retained


def test_rollout_reaches_device_and_device_requests_chunks(stack, mqtt_client_factory):
    rollout = mqtt_client_factory(stack.service("rollout"))
    assert rollout.subscribe("fleet/+/ota/req") == 1
    device = mqtt_client_factory(stack.device("dev-0002"))
    assert device.subscribe("fleet/dev-0002/ota/chunk") == 1
    device.publish("fleet/dev-0002/ota/req", b'{"offset":0}')
    request = rollout.receive()
    assert request is not None and request.topic == "fleet/dev-0002/ota/req"
    rollout.publish("fleet/dev-0002/ota/chunk", b"\x00\x01")
    chunk = device.receive()
    assert chunk is not None and chunk.payload == b"\x00\x01"


def test_wrong_password_is_refused(stack, mqtt_client_factory):
    from pydantic import SecretStr

    wrong = stack.device("dev-0001").model_copy(update={"password": SecretStr("not-it")})
    client = mqtt_client_factory(wrong, wait=False)
    assert not client.wait_connected(timeout_s=3)
    assert "Not authorized" in client.connect_reason or "authori" in client.connect_reason.lower()


def test_a_device_cannot_take_over_another_devices_session(stack, mqtt_client_factory):
    victim = mqtt_client_factory(stack.device("dev-0005"))
    # The attacker asks for the victim's client id; on the devices' listener the broker uses
    # the attacker's username instead, so the victim's session is not touched.
    attacker = mqtt_client_factory(stack.device("dev-0006"), client_id="dev-0005")
    attacker.publish("fleet/dev-0006/status", b"{}")
    victim.publish("fleet/dev-0005/status", b"{}")  # still connected: PUBACK arrives
    assert victim.disconnects == 0 and attacker.disconnects == 0


def test_devices_and_services_log_in_only_on_their_own_listener(stack, mqtt_client_factory):
    device, service = stack.device("dev-0004"), stack.service("monitor")
    assert device.port != service.port
    for account in (
        device.model_copy(update={"port": service.port}),  # would choose any client id there
        service.model_copy(update={"port": device.port}),
    ):
        client = mqtt_client_factory(account, wait=False)
        assert not client.wait_connected(timeout_s=3), account
        assert "authori" in client.connect_reason.lower(), client.connect_reason


def test_account_secrets_are_private_ignored_by_git_and_in_no_stack_log(stack):
    path = stack.settings.secrets_file
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    if path.is_relative_to(REPO_ROOT):
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=REPO_ROOT)
        assert ignored.returncode == 0, f"{path} is not ignored by git"
    secrets = stack.access.secrets
    values = [
        secrets.password(kind, name).get_secret_value()
        for kind in ("mqtt", "kafka")
        for name in secrets.names(kind)
    ]
    assert len(values) >= len(stack.registry.devices)
    logs = sorted(stack.settings.data_dir.glob("*/*.log"))
    assert logs, "the stack writes logs"
    for log in logs:
        text = log.read_text(errors="replace")
        leaked = [v[:4] + "..." for v in values if v in text]
        assert not leaked, f"{log} contains secrets {leaked}"


def _handshake(host: str, port: int, context: ssl.SSLContext, name: str) -> str:
    """The negotiated TLS version; raises what the handshake raised."""
    with (
        socket.create_connection((host, port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=name) as tls,
    ):
        return tls.version() or ""


def test_both_listeners_speak_only_tls_and_prove_the_brokers_name(stack):
    if not stack.settings.security.tls:
        pytest.skip("the stack runs plain development listeners (security.tls = false)")
    device, service = stack.device("dev-0003"), stack.service("monitor")
    for access in (device, service):
        host, port = access.host, access.port
        assert _handshake(host, port, access.ssl_context(), host) in ("TLSv1.2", "TLSv1.3")
        # a client that trusts the system CAs, not the stack's, refuses the broker
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(host, port, ssl.create_default_context(), host)
        # the stack's CA, but the certificate does not name this host
        with pytest.raises(ssl.SSLCertVerificationError):
            _handshake(host, port, access.ssl_context(), "not-the-broker.example")
        # plain MQTT: CONNECT in clear text gets no CONNACK
        with socket.create_connection((host, port), timeout=10) as raw:
            raw.sendall(b"\x10\x0c\x00\x04MQTT\x04\x02\x00\x1e\x00\x00")
            try:
                answer = raw.recv(4)
            except (ConnectionResetError, TimeoutError):
                answer = b""
            assert not answer.startswith(b"\x20"), answer
