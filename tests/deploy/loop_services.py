"""The services of the continual-distillation loop as real processes for the live dashboard
test: the distiller (seeded release store, drift source off), the rollout manager (no
auto-start, so it publishes nothing to devices) and the control API, on fresh topics they
share, and the events that make their labeled series exist: samples stored, a retrain,
releases accepted, an ops halt, refused and accepted ops commands."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness.service_process import ServiceProcess, delete_topics_with_prefix, free_port
from services.control.auth import read_token
from services.security.kafka import KafkaAccess
from tests.services.control.harness import control_process, http
from tests.services.distiller.test_distiller_stream import distiller_env, send_samples


@dataclass
class Loop:
    distiller: ServiceProcess
    rollout: ServiceProcess
    control: ServiceProcess
    distiller_env: dict[str, str]
    root: Path
    state_topic: str  # created by the rollout manager; deleted by ``cleanup``
    kafka: KafkaAccess  # the tests' own (samples in, topics deleted)

    @property
    def services(self) -> list[ServiceProcess]:
        return [self.distiller, self.rollout, self.control]

    def drive(self) -> None:
        """Samples in, then through the control API: a refused command, a halt of release 1
        (pending: the manager does not start rollouts by itself here) and a redistill."""
        samples = send_samples(self.kafka, self.distiller_env, noise=False)
        stored = "fleet_distiller_samples_stored_total"
        self.distiller.wait_for(lambda: self.distiller.value(stored) == samples, "samples stored")
        accepted = "fleet_rollout_releases_total"
        self.rollout.wait_for(
            lambda: self.rollout.value(accepted, result="accepted") >= 1, "release 1 accepted"
        )  # the distiller announces the release it was seeded with when it starts
        port, token = self.control.metrics_port, read_token(self.root / "keys" / "ops.token")
        assert http(port, "POST", "/api/v1/halt", {"version": 1}, "wrong")[0] == 401
        for kind, body in (("halt", {"version": 1}), ("redistill", {"max_steps": 10})):
            status, answer = http(port, "POST", f"/api/v1/{kind}", body, token)
            assert status == 202, answer

    def cleanup(self, kafka: KafkaAccess) -> None:
        for service in reversed(self.services):
            service.stop()
        delete_topics_with_prefix(kafka, self.state_topic)


def loop_services(stack, kafka_topic_factory, root: Path) -> Loop:
    """The three processes, not started yet."""
    ops = kafka_topic_factory(prefix="test.ops")
    env = distiller_env(stack, kafka_topic_factory, root, ops_topic=ops, max_steps=10)
    env["FLEET_DISTILLER_METRICS_PORT"] = str(distiller_port := free_port())
    distiller = ServiceProcess(["distiller", "run"], env, root / "distiller.log", distiller_port)
    state_topic = f"test.rollouts.{uuid.uuid4().hex[:12]}"
    rollout_port = free_port()
    rollout_env = {
        "FLEET_ROLLOUT_RELEASES_TOPIC": env["FLEET_DISTILLER_RELEASES_TOPIC"],
        "FLEET_ROLLOUT_STATUS_TOPIC": kafka_topic_factory(prefix="test.status"),
        "FLEET_ROLLOUT_OPS_TOPIC": ops,
        "FLEET_ROLLOUT_STATE_TOPIC": state_topic,
        "FLEET_ROLLOUT_GROUP_ID": f"rollout-{uuid.uuid4().hex[:8]}",
        "FLEET_ROLLOUT_RELEASE_ROOT": str(root / "releases"),
        "FLEET_ROLLOUT_KEYS_DIR": str(root / "keys"),
        "FLEET_ROLLOUT_AUTO_START": "false",
        "FLEET_ROLLOUT_METRICS_PORT": str(rollout_port),
    }
    rollout = ServiceProcess(["rollout", "run"], rollout_env, root / "rollout.log", rollout_port)
    control = control_process(
        root,
        commands_topic=ops,
        releases_topic=env["FLEET_DISTILLER_RELEASES_TOPIC"],
    )
    return Loop(distiller, rollout, control, env, root, state_topic, stack.kafka)
