"""``fleet rollout run`` as a process: settings from the environment, /metrics, a release
refused for its signature counted there, and a clean exit on SIGTERM."""

from __future__ import annotations

import uuid

import pytest

from benchmarks.harness.service_process import ServiceProcess, delete_topics_with_prefix, free_port
from services.releases.announce import KafkaAnnouncer
from services.releases.keys import load_or_create_key

from .conftest import Releases

pytestmark = pytest.mark.integration


def test_rollout_run_serves_metrics_refuses_a_foreign_release_and_stops_cleanly(
    stack, kafka_topic_factory, tmp_path
):
    own = Releases(tmp_path / "releases", tmp_path / "keys", load_or_create_key(tmp_path / "keys"))
    foreign = Releases(own.root, tmp_path / "other", load_or_create_key(tmp_path / "other"))
    releases = kafka_topic_factory(compacted=True, prefix="test.releases")
    port = free_port()
    env = {
        "FLEET_ROLLOUT_RELEASES_TOPIC": releases,
        "FLEET_ROLLOUT_STATUS_TOPIC": kafka_topic_factory(prefix="test.status"),
        "FLEET_ROLLOUT_OPS_TOPIC": kafka_topic_factory(prefix="test.ops"),
        "FLEET_ROLLOUT_STATE_TOPIC": f"test.rollouts.{uuid.uuid4().hex[:12]}",
        "FLEET_ROLLOUT_GROUP_ID": f"rollout-{uuid.uuid4().hex[:8]}",
        "FLEET_ROLLOUT_RELEASE_ROOT": str(own.root),
        "FLEET_ROLLOUT_KEYS_DIR": str(own.keys_dir),
        "FLEET_ROLLOUT_METRICS_PORT": str(port),
    }
    service = ServiceProcess(["rollout", "run"], env, tmp_path / "rollout.log", port).start()
    try:
        service.wait_for(lambda: "rollout manager running" in service.tail(), "the manager")
        version = 3000 + uuid.uuid4().int % 10**6
        blob_manifest = foreign.manifest(version, b"x" * 64)  # signed by a key not trusted
        KafkaAnnouncer(stack.kafka, releases).publish(blob_manifest)
        service.wait_for(
            lambda: service.value("fleet_rollout_releases_total", result="refused") == 1,
            "the release to be refused",
        )
        assert "bad signature" in service.tail()
    finally:
        assert service.stop() == 0, service.tail()
        delete_topics_with_prefix(stack.kafka, env["FLEET_ROLLOUT_STATE_TOPIC"])
