"""``fleet distiller run`` against the real Kafka: samples and a Redistill in, a signed v2
manifest out (or nothing, when the gate rejects); ``fleet distiller once`` prints the gate."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from benchmarks.harness.service_process import ServiceProcess, free_port
from contract.schemas import Redistill, parse_release_manifest
from contract.signing import verify
from models.blob import read_blob
from services.releases.store import ReleaseStore
from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT
from tests.services.distiller.factories import examples, labeled, seeded_store, write_replay

pytestmark = pytest.mark.integration

PHASE2 = sorted({label for _, label in examples(2, "train")})


def distiller_env(stack, kafka_topic_factory, root, **settings) -> dict[str, str]:
    """Fresh topics, a release store with signed release 1, and a replay file under ``root``."""
    seeded_store(root)
    values = {
        "group_id": f"test-distiller-{uuid.uuid4().hex[:8]}",
        "labeled_topic": kafka_topic_factory(partitions=2, prefix="test.labeled"),
        "ops_topic": kafka_topic_factory(prefix="test.ops"),
        "releases_topic": kafka_topic_factory(compacted=True, prefix="test.releases"),
        "data_dir": root / "distiller",
        "release_root": root / "releases",
        "keys_dir": root / "keys",
        "replay_path": write_replay(root / "replay.jsonl", examples(0, "train")),
        # 300 gate rows: with a tiny student one row of 40 would already be 2.5 points
        "replay_valid_path": write_replay(
            root / "replay-valid.jsonl", examples(0, "valid") + examples(0, "test")
        ),
        "gate_replay_tolerance": 0.03,
        "drift_source": "off",
        "interval_s": 3600,
        "tick_s": 0.5,
        "max_steps": 40,
        "lr": 0.005,
        **settings,
    }
    return {f"FLEET_DISTILLER_{k.upper()}": str(v) for k, v in values.items()}


def produce(kafka: KafkaAccess, topic: str, values: list[bytes], keys: list[bytes | None]) -> None:
    producer = kafka.producer(acks="all")
    for key, value in zip(keys, values, strict=True):
        producer.send(topic, key=key, value=value)
    producer.flush(30)
    producer.close()


def send_samples(kafka: KafkaAccess, env: dict[str, str], noise: bool) -> int:
    """300 labeled phase-2 samples, 20 of them twice, and one invalid record."""
    samples = labeled(examples(2, "train")[:300], PHASE2, noise=noise, seed=1)
    sent = samples + samples[:20]
    values = [s.to_bytes() for s in sent] + [b'{"message_id": "broken"}']
    keys = [s.message_id.encode() for s in sent] + [b"broken"]
    produce(kafka, env["FLEET_DISTILLER_LABELED_TOPIC"], values, keys)
    return len(samples)


def send_redistill(kafka: KafkaAccess, env: dict[str, str], command_id: str) -> None:
    command = Redistill(command_id=command_id, issued_by="test", ts=time.time(), reason="test")
    topic = env["FLEET_DISTILLER_OPS_TOPIC"]
    produce(kafka, topic, [command.to_bytes()], [None])


def read_releases(kafka: KafkaAccess, topic: str, expect: int, timeout_s: float) -> list:
    consumer = kafka.consumer(topic, auto_offset_reset="earliest", enable_auto_commit=False)
    out: list = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and len(out) < expect:
        for records in consumer.poll(timeout_ms=500).values():
            out += [(r.key, parse_release_manifest(r.value)) for r in records]
    consumer.close()
    return out


def wait_for(predicate, timeout_s: float, what: str, proc: ServiceProcess) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}:\n{proc.tail()}")


def start(env: dict[str, str], tmp_path) -> ServiceProcess:
    port = free_port()
    env = {**env, "FLEET_DISTILLER_METRICS_PORT": str(port)}
    return ServiceProcess(["distiller", "run"], env, tmp_path / "distiller.log", port).start()


def test_redistill_publishes_a_signed_v2_release(stack, kafka_topic_factory, tmp_path):
    env = distiller_env(stack, kafka_topic_factory, tmp_path)
    proc = start(env, tmp_path)
    try:
        unique = send_samples(stack.kafka, env, noise=False)
        stored = "fleet_distiller_samples_stored_total"
        wait_for(lambda: proc.value(stored) == unique, 60, "samples stored", proc)
        send_redistill(stack.kafka, env, "cmd-1")
        send_redistill(stack.kafka, env, "cmd-1")  # a redelivered command runs once
        releases = read_releases(stack.kafka, env["FLEET_DISTILLER_RELEASES_TOPIC"], 2, 120)
        # release 1 was stored but never announced: the service publishes it on start
        assert [m.version for _, m in releases] == [1, 2], proc.tail()
        key, manifest = releases[1]
        assert key == b"stm32f405-tinylstm/v2" and manifest.version == 2
        verify(manifest, (tmp_path / "keys" / "release.pub").read_bytes())
        store = ReleaseStore(tmp_path / "releases")
        blob = store.blob(2)
        assert hashlib.sha256(blob).hexdigest() == manifest.sha256 == store.manifest(2).sha256
        assert read_blob(blob).model_version == 2
        assert (
            manifest.metrics["gate_new_accuracy_candidate"]
            > manifest.metrics["gate_new_accuracy_old"]
        )
        assert "gate_replay_accuracy_candidate" in manifest.metrics

        published = "fleet_distiller_retrains_total"
        wait_for(
            lambda: proc.value(published, trigger="ops", outcome="published") == 1,
            30, "the retrain counter", proc,
        )  # fmt: skip
        skipped = "fleet_distiller_samples_skipped_total"
        assert proc.value(skipped, reason="duplicate") == 20
        assert proc.value(skipped, reason="invalid") == 1
        assert proc.value("fleet_distiller_commands_total", outcome="duplicate") == 1
        assert proc.value("fleet_distiller_last_published_version") == 2
        assert proc.value("fleet_distiller_gate", metric="new_accuracy_candidate") > 0
    finally:
        assert proc.stop() == 0, proc.tail()
    # no second cycle ran for the duplicate command
    topic = env["FLEET_DISTILLER_RELEASES_TOPIC"]
    assert len(read_releases(stack.kafka, topic, 3, 3)) == 2


def test_gate_rejects_noise_and_publishes_nothing(stack, kafka_topic_factory, tmp_path):
    env = distiller_env(stack, kafka_topic_factory, tmp_path, gate_min_gain=0.02)
    proc = start(env, tmp_path)
    try:
        unique = send_samples(stack.kafka, env, noise=True)
        stored = "fleet_distiller_samples_stored_total"
        wait_for(lambda: proc.value(stored) == unique, 60, "samples stored", proc)
        send_redistill(stack.kafka, env, "cmd-noise")
        retrains = "fleet_distiller_retrains_total"
        wait_for(
            lambda: proc.value(retrains, trigger="ops", outcome="rejected_by_gate") == 1,
            120, "the rejection", proc,
        )  # fmt: skip
        assert proc.value(retrains, trigger="ops", outcome="published") == 0
    finally:
        assert proc.stop() == 0, proc.tail()
    topic = env["FLEET_DISTILLER_RELEASES_TOPIC"]
    assert [m.version for _, m in read_releases(stack.kafka, topic, 2, 3)] == [1]
    assert ReleaseStore(tmp_path / "releases").versions() == [1]


def test_once_ingests_and_prints_the_gate_result(stack, kafka_topic_factory, tmp_path):
    env = distiller_env(stack, kafka_topic_factory, tmp_path)
    send_samples(stack.kafka, env, noise=False)
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "distiller", "once", "--max-steps", "30"],
        cwd=REPO_ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"] == "published" and result["version"] == 2, json.dumps(result)
    assert result["trigger"] == "manual" and result["metrics"]["train_steps"] == 30
    assert result["metrics"]["train_new"] + result["metrics"]["gate_holdout"] == 300
    topic = env["FLEET_DISTILLER_RELEASES_TOPIC"]
    # `once` publishes the new release only (release 1 is announced by `run` on start)
    assert [m.version for _, m in read_releases(stack.kafka, topic, 1, 30)] == [2]
