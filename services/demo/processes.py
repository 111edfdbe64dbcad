"""The services the demo starts: each a ``fleet <service> run`` subprocess in its own process
group, logging to ``var/demo/logs/<name>.log``, stopped with SIGTERM (SIGKILL after a grace)."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from services.errors import ServiceError
from services.security.kafka import KafkaAccess
from services.settings import REPO_ROOT

if TYPE_CHECKING:
    from services.demo.config import DemoConfig
    from services.settings import MetricsPorts


class ServiceProcess:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, port: int):
        self.name, self.args, self.env, self.log, self.port = name, args, env, log, port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", *self.args],
                cwd=REPO_ROOT,
                env={
                    **service_environment(),
                    "HF_HUB_OFFLINE": "1",
                    "OMP_WAIT_POLICY": "PASSIVE",
                    **self.env,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches only the demo, which stops us in order
            )
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.is_file() else ""

    def check_alive(self) -> None:
        if self.proc is not None and not self.running:
            raise ServiceError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")

    def serves_metrics(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=2):
                return True
        except OSError:
            return False

    def wait_for(self, check: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            if check():
                return
            time.sleep(0.5)
        raise ServiceError(f"{self.name}: timed out waiting for {what}:\n{self.tail()}")

    def stop(self, timeout_s: float = 60) -> int | None:
        """SIGTERM the process group, wait, SIGKILL if it hangs; the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def skip_backlog(
    kafka: KafkaAccess, group_id: str, topics: list[str], coordinator_wait_s: float = 120.0
) -> int:
    """Move ``group_id``'s committed offsets to the end of ``topics`` and of every partition it
    has committed before (faust's internal topics); returns how many records were skipped.

    The demo's services use their own consumer groups, so this leaves the records for any
    other group; it only keeps a backlog from earlier runs out of the demo's live windows."""
    from kafka import TopicPartition
    from kafka.admin import OffsetSpec
    from kafka.errors import CoordinatorNotAvailableError, KafkaError

    admin = kafka.admin()
    try:
        # a broker that just started creates its offsets topic on first use: until then it
        # has no group coordinator, so ask again for a while
        deadline = time.monotonic() + coordinator_wait_s
        while True:
            try:
                committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
                break
            except CoordinatorNotAvailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
        partitions = set(committed)
        for topic in topics:
            for meta in admin.describe_topics([topic]):
                indexes = [p["partition_index"] for p in meta["partitions"]]
                partitions |= {TopicPartition(topic, index) for index in indexes}
        if not partitions:
            return 0
        ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
        skipped = sum(
            max(ends[tp].offset - max(committed[tp].offset, 0), 0) if tp in committed else 0
            for tp in partitions
        )
        admin.reset_group_offsets(group_id, {tp: OffsetSpec.LATEST for tp in partitions})
        return skipped
    except KafkaError as exc:
        raise ServiceError(f"could not move {group_id}'s offsets past its backlog: {exc}") from exc
    finally:
        admin.close()


def service_environment() -> dict[str, str]:
    """The demo's environment for its services, except an account override: each service
    runs as its own Kafka principal, under the ACLs that production has."""
    return {k: v for k, v in os.environ.items() if k != "FLEET_SECURITY__KAFKA_ACCOUNT"}


# The demo's consumer groups: its own, so records of earlier runs or other tools stay with
# theirs, and started at the end of their topics (skip_backlog) so that backlog does not
# delay the live windows, retrain on old labels or replay old ops commands. Each starts with
# its service's prefix, which the Kafka ACLs grant that service (services/security/kafka_acls).
GROUPS = {
    "processor": "fleet-processor-demo",  # faust app id (its consumer group, table topics)
    "labeler": "fleet-labeler-demo",
    "distiller": "fleet-distiller-demo",
    "rollout": "fleet-rollout-demo",
}
# The demo's gateway has its own MQTT share group: its persistent session keeps a turn in
# its group while the demo is not running, which must not hold back the "gateway" group.
# (A persistent session also keeps its subscriptions: a client id is tied to one group.)
GATEWAY_ARGS = ["gateway", "run", "--client-id", "demo-gateway", "--share-group", "demo"]
# A device heartbeats every 30 s (edge_agent.simulator.HEARTBEAT_S); the rollout manager counts
# in a stage the devices that reported this recently, so devices that other runs or tests left
# in the last 10 minutes (the default) are not waited for.
ROLLOUT_ACTIVE_WINDOW_S = 45


def service_specs(config: DemoConfig, var: Path, corpus: Path, teacher: str, labels: list[str],
                  ports: MetricsPorts) -> list[ServiceProcess]:  # fmt: skip
    """The six services of the loop, configured for a demo run (not started)."""
    import json

    logs, c = var / "logs", config
    stage_timeout = c.loop_timeout_s
    drift_s = c.drift_hold_s if c.auto else c.drift_s  # drift traffic when the cycle runs
    stages = [
        {"group": "canary", "min_confirmed": 1.0, "max_failed": 0.0, "bake_s": c.canary_bake_s,
         "timeout_s": stage_timeout},
        {"group": "fleet", "min_confirmed": 0.9, "max_failed": 0.05, "bake_s": 0.0,
         "timeout_s": stage_timeout},
    ]  # fmt: skip
    envs: dict[str, dict[str, str]] = {
        "processor": {
            "FLEET_PROCESSOR_WINDOW_S": str(c.window_s),
            "FLEET_PROCESSOR_GRACE_S": str(c.grace_s),
            "FLEET_PROCESSOR_TICK_S": "0.5",
            "FLEET_PROCESSOR_BUDGET_PER_WINDOW": str(c.budget_per_window),
            "FLEET_PROCESSOR_DATA_DIR": str(var / "processor"),
            "FLEET_PROCESSOR_APP_ID": GROUPS["processor"],
        },
        "labeler": {
            "FLEET_LABELER_TEACHER": teacher,
            "FLEET_LABELER_GROUP_ID": GROUPS["labeler"],
            "FLEET_LABELER_LABELS": json.dumps(labels, ensure_ascii=False),
            "FLEET_LABELER_LLM_SMOOTHING": "0.1",  # an LLM's answer: p = 0.9 + 0.1 / classes
        },
        "distiller": {
            "FLEET_DISTILLER_GROUP_ID": GROUPS["distiller"],
            "FLEET_DISTILLER_DATA_DIR": str(var / "distiller"),  # this run's samples only
            "FLEET_DISTILLER_REPLAY_PATH": str(corpus / "phase0" / "train.jsonl"),
            "FLEET_DISTILLER_REPLAY_VALID_PATH": str(corpus / "phase0" / "valid.jsonl"),
            "FLEET_DISTILLER_INTERVAL_S": str(365 * 86400),  # no scheduled cycle
            "FLEET_DISTILLER_TICK_S": "1",
            "FLEET_DISTILLER_MAX_STEPS": str(c.distill_steps),
            "FLEET_DISTILLER_LR": str(c.distill_lr),
            "FLEET_DISTILLER_REPLAY_RATIO": str(c.replay_ratio),
            "FLEET_DISTILLER_GATE_REPLAY_TOLERANCE": str(c.replay_tolerance),
            # the reference profile of the new release: the newest predictions, all from
            # the drift phase (80 % of its traffic)
            "FLEET_DISTILLER_PROFILE_SAMPLE": str(int(0.8 * c.devices * c.rate_hz * drift_s)),
            "FLEET_DISTILLER_TORCH_THREADS": "1",
            **_drift_trigger(c),
        },
        "rollout": {
            "FLEET_ROLLOUT_GROUP_ID": GROUPS["rollout"],
            "FLEET_ROLLOUT_STAGES": json.dumps(stages),
            "FLEET_ROLLOUT_ACTIVE_WINDOW_S": str(ROLLOUT_ACTIVE_WINDOW_S),
            "FLEET_ROLLOUT_TICK_S": "0.5",
        },
        "control": {},
    }
    args = {
        "gateway": GATEWAY_ARGS,
        "processor": ["processor", "run"],
        "labeler": ["labeler", "run"],
        "distiller": ["distiller", "run"],
        "rollout": ["rollout", "run"],
        "control": ["control", "run"],
    }
    by_service = ports.by_service()
    return [
        ServiceProcess(name, args[name], envs.get(name, {}), logs / f"{name}.log", by_service[name])
        for name in args
    ]


def _drift_trigger(c: DemoConfig) -> dict[str, str]:
    """The distiller's drift trigger: off when the demo asks (services/demo/loop.py); with
    ``auto`` on, asking the stack's Prometheus, with the demo's hold and poll period, a short
    cooldown (each drift's release has a new version, whose own drift is what counts) and
    the labels a cycle needs."""
    if not c.auto:
        return {"FLEET_DISTILLER_DRIFT_SOURCE": "off"}
    return {
        "FLEET_DISTILLER_DRIFT_SOURCE": "prometheus",
        "FLEET_DISTILLER_DRIFT_HOLD_S": str(int(c.drift_hold_s)),
        "FLEET_DISTILLER_DRIFT_POLL_S": str(c.drift_poll_s),
        "FLEET_DISTILLER_DRIFT_COOLDOWN_S": str(max(c.drift_poll_s, c.window_s)),
        "FLEET_DISTILLER_DRIFT_MIN_NEW_SAMPLES": str(c.drift_min_new_samples),
    }


def _logged(service: ServiceProcess, text: str) -> bool:
    return text in service.tail(100_000)


def wait_ready(services: list[ServiceProcess]) -> None:
    """Until each service shows it is ready (log line or /metrics), in start order."""
    checks: dict[str, tuple[str, float]] = {
        "gateway": ("subscribed to", 120),
        "processor": ("Ready", 300),  # faust recovers its tables first: slow on a busy machine
        "labeler": ("labeler starting", 300),
        "rollout": ("rollout manager running", 120),
    }
    for service in services:
        if service.name in checks:
            text, timeout = checks[service.name]
            service.wait_for(functools.partial(_logged, service, text), repr(text), timeout)
        service.wait_for(service.serves_metrics, "/metrics")
