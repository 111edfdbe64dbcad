"""Stack lifecycle on a private data dir and free ports (Mosquitto and Prometheus; the
session's Kafka is exercised by the integration tests): up, status, reuse, down leaves no
process, stale pid files and occupied ports give clear errors, the CLI prints no traceback."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from contract.mqtt import MqttAccess
from services.cli import build_app
from services.errors import StackError
from services.security.access import Access
from services.settings import REPO_ROOT, load_settings
from services.stack import Stack

pytestmark = pytest.mark.integration

LIGHT = ["mosquitto", "prometheus"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fleet.toml with its own data dir and free ports (FLEET_STACK__* from the caller's
    environment would override the file, so they are cleared for the test)."""
    import os

    for name in [n for n in os.environ if n.startswith("FLEET_STACK__")]:
        monkeypatch.delenv(name)
    config = tmp_path / "fleet.toml"
    config.write_text(
        f"""
[stack]
data_dir = "{tmp_path / "var"}"
registry = "{REPO_ROOT / "deploy" / "fleet-registry.toml"}"
[stack.kafka]
port = {_free_port()}
controller_port = {_free_port()}
[stack.mosquitto]
port = {_free_port()}
service_port = {_free_port()}
[stack.prometheus]
port = {_free_port()}
"""
    )
    return config


@pytest.fixture
def private_stack(private_config: Path):
    stack = Stack(load_settings(private_config))
    yield stack
    stack.down()


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_up_status_reuse_down(private_stack):
    assert private_stack.up(LIGHT) == LIGHT
    states = {s.name: s for s in private_stack.status()}
    assert states["mosquitto"].state == "up" and states["prometheus"].state == "up"
    assert states["kafka"].state == "down"
    assert states["mosquitto"].version.startswith("2.")
    pids = [states[name].pid for name in LIGHT]
    assert private_stack.up(LIGHT) == []  # second up reuses (and refreshes) what runs
    assert [s.pid for s in private_stack.status() if s.name in LIGHT] == pids
    assert sorted(private_stack.down()) == sorted(LIGHT)
    assert all(pid is not None and not _group_alive(pid) for pid in pids)
    assert {s.state for s in private_stack.status()} == {"down"}


def test_stale_pid_file_is_reported_then_replaced(private_stack):
    component = private_stack.mosquitto
    component.run_dir.mkdir(parents=True)
    component.process.pid_file.write_text("999999\n")
    status = component.status()
    assert status.state == "stale" and "stale pid file" in status.detail
    assert private_stack.up(["mosquitto"]) == ["mosquitto"]
    assert component.status().state == "up"


def test_occupied_port_is_a_clear_error(private_stack):
    port = private_stack.settings.stack.mosquitto.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        with pytest.raises(StackError, match=f"already in use.*127.0.0.1:{port}"):
            private_stack.up(["mosquitto"])
    assert private_stack.mosquitto.status().state == "down"


def test_cli_status_and_errors_without_traceback(private_stack, private_config):
    runner = CliRunner()
    app = build_app()
    result = runner.invoke(app, ["stack", "status", "--config", str(private_config)])
    assert result.exit_code == 0, result.output
    assert "mosquitto" in result.output and "down" in result.output
    port = private_stack.settings.stack.prometheus.port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        result = runner.invoke(app, ["stack", "up", "prometheus", "-c", str(private_config)])
    assert result.exit_code == 1
    assert "already in use" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["stack", "up", "zookeeper", "-c", str(private_config)])
    assert result.exit_code == 1 and "valid:" in result.output


def _can_connect(access: MqttAccess) -> bool:
    import threading

    done = threading.Event()
    outcome: list[bool] = []

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        outcome.append(not reason_code.is_failure)
        done.set()

    client = access.client()
    client.on_connect = on_connect
    client.connect(access.host, access.port)
    client.loop_start()
    try:
        done.wait(5)
    finally:
        client.disconnect()
        client.loop_stop()
    return outcome == [True]


def test_second_up_reloads_registry_into_running_broker(tmp_path, private_config):
    registry = tmp_path / "registry.toml"
    registry.write_text((REPO_ROOT / "deploy" / "fleet-registry.toml").read_text())
    config = private_config.read_text().replace(
        str(REPO_ROOT / "deploy" / "fleet-registry.toml"), str(registry)
    )
    private_config.write_text(config)
    stack = Stack(load_settings(private_config))
    try:
        stack.up(["mosquitto"])
        dev1 = Access(stack.settings).mqtt("dev-0001")
        assert _can_connect(dev1)
        assert not _can_connect(dev1.model_copy(update={"username": "dev-9999"}))
        with registry.open("a") as handle:
            handle.write('\n[[devices]]\nid = "dev-9999"\ngroup = "fleet"\n')
        pid = stack.mosquitto.process.pid()
        assert stack.up(["mosquitto"]) == []  # reused, auth files rewritten, SIGHUP sent
        assert stack.mosquitto.process.pid() == pid
        new = Access(stack.settings).mqtt("dev-9999")  # its secret was generated by `up`
        assert new.password != dev1.password
        deadline = time.monotonic() + 10
        while not _can_connect(new):
            assert time.monotonic() < deadline, "new device never accepted after reload"
            time.sleep(0.2)
    finally:
        stack.down()


def test_private_stack_factory_kafka_restart_keeps_data(private_stack_factory):
    """A private Kafka (own data dir and ports) can be stopped and restarted by a test;
    the second start reuses the formatted storage and the topics."""

    private = private_stack_factory(("kafka",))
    kafka = Access(private.settings).kafka("admin")
    assert kafka.bootstrap != "127.0.0.1:19092"
    assert private.down(["kafka"]) == ["kafka"]
    meta = private.kafka.data_dir / "meta.properties"
    assert meta.exists()
    before = meta.read_text()
    assert private.up(["kafka"]) == ["kafka"]
    assert meta.read_text() == before  # not reformatted
    admin = kafka.admin()
    try:
        assert set(private.settings.topics.by_name()) <= set(admin.list_topics())
    finally:
        admin.close()


def test_kafka_cluster_ids_never_look_like_options():
    from services.stack.kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(3000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert len(set(ids)) == len(ids)


def test_up_restarts_a_broker_running_with_other_listeners(private_stack):
    """Listeners are not re-read on SIGHUP: a broker started by an older version (other
    listeners, no use_username_as_clientid) is restarted by the next `up`, not reused."""
    private_stack.up(["mosquitto"])
    pid = private_stack.mosquitto.process.pid()
    config = private_stack.mosquitto.config_file
    config.write_text(config.read_text().replace("use_username_as_clientid true\n", ""))
    assert private_stack.up(["mosquitto"]) == ["mosquitto"]
    assert private_stack.mosquitto.process.pid() not in (None, pid)
    assert "use_username_as_clientid true" in config.read_text()
    assert private_stack.up(["mosquitto"]) == []  # now current: reused


def test_tls_by_default_plain_listeners_only_as_a_development_setting(tmp_path, private_config):
    secure = Stack(load_settings(private_config))
    try:
        secure.up(["mosquitto"])
        conf = secure.mosquitto.config_file.read_text()
        assert conf.count("tls_version tlsv1.2") == 2 and conf.count("certfile ") == 2
        tls = Access(secure.settings).mqtt("dev-0001")
        assert tls.cafile == secure.settings.pki_dir / "ca.crt"
        assert _can_connect(tls)
        assert not _can_connect(tls.model_copy(update={"cafile": None}))  # plain: refused
    finally:
        secure.down()
    private_config.write_text(private_config.read_text() + "\n[security]\ntls = false\n")
    plain = Stack(load_settings(private_config))
    try:
        assert plain.up(["mosquitto"]) == ["mosquitto"]  # other listeners: a new broker
        assert "certfile" not in plain.mosquitto.config_file.read_text()
        access = Access(plain.settings).mqtt("dev-0001")
        assert access.cafile is None and _can_connect(access)
    finally:
        plain.down()
