"""``fleet control run`` and ``fleet ops`` against the real Kafka: every command lands on the
commands topic exactly as the API answered, refusals land nowhere, and the reads show the
releases and commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from contract.schemas.ops import parse_ops_command
from contract.signing import sign
from services.control.auth import read_token
from services.control.commands import build_command
from services.releases.keys import load_or_create_key
from services.releases.store import ReleaseStore
from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT
from tests.services.control.conftest import release
from tests.services.control.harness import control_process, http, signed_in_page

pytestmark = pytest.mark.integration

BODIES = {
    "redistill": {"max_steps": 50, "reason": "drift on v1"},
    "rollout": {"version": 1, "groups": ["canary"], "canary_fraction": 0.2},
    "halt": {"version": 1},
    "rollback": {"to_version": 1, "groups": ["canary"]},
}


def _read_topic(kafka: KafkaAccess, topic: str, expect: int, timeout_s: float = 30) -> list:

    consumer = kafka.consumer(topic, auto_offset_reset="earliest", enable_auto_commit=False)
    records, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(records) < expect:
        for batch in consumer.poll(timeout_ms=500).values():
            records += batch
    time.sleep(0.5)  # and nothing more arrives
    for batch in consumer.poll(timeout_ms=500).values():
        records += batch
    consumer.close()
    return records


def _fleet_ops(port: int, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "ops", *args, "--url", f"http://127.0.0.1:{port}"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_commands_reach_kafka_and_read_back(stack, kafka_topic_factory, tmp_path) -> None:

    kafka = stack.kafka
    commands_topic = kafka_topic_factory(prefix="test.ops")
    releases_topic = kafka_topic_factory(compacted=True, prefix="test.rel")
    key = load_or_create_key(tmp_path / "keys")  # writes keys/release.pub the API reads
    manifest, blob = release(1)
    manifest = sign(manifest, key)
    ReleaseStore(tmp_path / "releases").put(manifest, blob)
    producer = kafka.producer(acks="all")
    producer.send(releases_topic, key=manifest.target.encode(), value=manifest.to_bytes()).get(30)
    producer.close()

    proc = control_process(
        tmp_path, commands_topic=commands_topic, releases_topic=releases_topic
    ).start()
    port = proc.metrics_port
    try:
        proc.wait_for(lambda: bool(proc.metrics()), "the control API to serve")
        token = read_token(tmp_path / "keys" / "ops.token")

        # 1. Each command through the API: 202 once acknowledged.
        answers = {}
        for kind, body in BODIES.items():
            status, answer = http(port, "POST", f"/api/v1/{kind}", body, token)
            assert status == 202, answer
            answers[answer["command_id"]] = answer["command"]
        # 2. Refusals: no token, wrong token, invalid body.
        assert http(port, "POST", "/api/v1/rollout", {"version": 1})[0] == 401
        assert http(port, "POST", "/api/v1/rollout", {"version": 1}, "wrong")[0] == 401
        status, answer = http(port, "POST", "/api/v1/rollout", {"groups": ["x"]}, token)
        assert status == 400 and "version: Field required" in answer["error"]
        # 3. The CLI: through the API, token from the token file, operator recorded.
        cli_env = {"FLEET_CONTROL_TOKEN_FILE": str(tmp_path / "keys" / "ops.token")}
        done = _fleet_ops(port, "halt", "--reason", "from the CLI", "--operator", "ci", env=cli_env)
        assert done.returncode == 0, done.stderr
        printed = json.loads(done.stdout)
        assert printed["issued_by"] == "ops:ci" and printed["reason"] == "from the CLI"
        answers[printed["command_id"]] = printed
        refused = _fleet_ops(port, "rollout", "2", "--token", "wrong", env={})
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr

        # 4. Kafka holds exactly the accepted commands, as answered, keyed by command id.
        records = _read_topic(kafka, commands_topic, expect=len(answers))
        assert len(records) == len(answers) == 5
        for record in records:
            command = parse_ops_command(record.value)
            assert record.key == command.command_id.encode()
            assert command.model_dump(mode="json") == answers[command.command_id]

        # 5. Reads: recent commands newest first, releases, the page, the metrics.
        read = read_token(tmp_path / "keys" / "read.token")
        assert http(port, "GET", "/api/v1/commands")[0] == 401
        status, listed = http(port, "GET", "/api/v1/commands", token=read)
        assert status == 200
        assert [c["command"] for c in listed["commands"]] == [
            "halt",
            "rollback",
            "halt",
            "rollout",
            "redistill",
        ]
        status, releases = http(port, "GET", "/api/v1/releases", token=read)
        assert status == 200 and releases["published_error"] is None
        (row,) = releases["releases"]
        assert (row["version"], row["stored"], row["published"], row["verified"]) == (
            1,
            True,
            True,
            True,
        )
        status, page = signed_in_page(port, read)
        assert status == 200 and printed["command_id"] in page and manifest.sha256[:12] in page
        count = lambda command, outcome: proc.value(  # noqa: E731
            "fleet_control_commands_total", command=command, outcome=outcome
        )
        assert [count(kind, "accepted") for kind in BODIES] == [1, 1, 2, 1]
        assert (count("rollout", "unauthorized"), count("rollout", "invalid")) == (3, 1)
    finally:
        assert proc.stop() == 0, proc.tail()


def test_reads_reuse_one_consumer(stack, kafka_topic_factory, monkeypatch) -> None:
    """Pages and read endpoints read the topics through one consumer for the process, not
    one (with its connections and metadata round trips) per request."""
    import kafka

    from services.control.releases import KafkaReleaseFeed
    from services.control.sink import CommandSinkError, KafkaCommandSink
    from services.topic_reader import TopicReader

    made = []
    original = kafka.KafkaConsumer

    class Counting(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            made.append(kwargs.get("client_id"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(kafka, "KafkaConsumer", Counting)
    commands, releases = kafka_topic_factory(), kafka_topic_factory(compacted=True)
    rollouts = kafka_topic_factory(compacted=True)
    reader = TopicReader(stack.kafka, 10, CommandSinkError, "fleet-control-reader")
    sink = KafkaCommandSink(stack.kafka, commands, 10, reader)
    feed = KafkaReleaseFeed(reader, releases, rollouts)
    try:
        sink.send(build_command("halt", {}, issued_by="ops"))
        for _ in range(3):
            assert [c.command for c in sink.recent(10)] == ["halt"]
            assert feed.published() == [] and feed.rollouts() == []
        assert len(made) == 1 and reader.consumers_made == 1
    finally:
        sink.close()
