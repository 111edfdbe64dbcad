"""The chaos run's parts (``benchmarks/chaos.py``): a private stack whose brokers can be
restarted, the five services as subprocesses that can be killed, and readers of what
reached Kafka."""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.demo.processes import ServiceProcess, wait_ready
from services.security.access import Access
from services.settings import FleetSettings, load_settings

PROCESSOR_APP = "fleet-processor"  # the processor's default app id: its tables' topic prefix


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ChaosStack:
    """Kafka and Mosquitto on ``work_dir`` and free ports (TLS, SASL, ACLs as by default);
    ``env`` points a subprocess's settings at it. Stopped on exit."""

    def __init__(self, work_dir: Path) -> None:
        from services.stack import Stack

        ports = {name: _free_port() for name in ("kafka", "controller", "mqtt", "mqtt_services",
                                                  "prometheus", "alertmanager")}  # fmt: skip
        services = ("gateway", "processor", "labeler", "distiller", "rollout", "control")
        self.env = {
            "FLEET_STACK__DATA_DIR": str(work_dir / "var"),
            "FLEET_STACK__KAFKA__PORT": str(ports["kafka"]),
            "FLEET_STACK__KAFKA__CONTROLLER_PORT": str(ports["controller"]),
            "FLEET_STACK__MOSQUITTO__PORT": str(ports["mqtt"]),
            "FLEET_STACK__MOSQUITTO__SERVICE_PORT": str(ports["mqtt_services"]),
            "FLEET_STACK__PROMETHEUS__PORT": str(ports["prometheus"]),
            "FLEET_STACK__ALERTMANAGER__PORT": str(ports["alertmanager"]),
            **{f"FLEET_METRICS_PORTS__{s.upper()}": str(_free_port()) for s in services},
        }
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)  # load_settings reads the environment last
        try:
            self.settings: FleetSettings = load_settings()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.access = Access(self.settings)
        self.stack = Stack(self.settings)

    def __enter__(self) -> ChaosStack:
        self.stack.up(["kafka", "mosquitto"])
        from services.releases.keys import load_or_create_key

        # the distiller and the rollout manager would each create the pair; two at once race
        load_or_create_key(self.settings.data_dir / "keys")
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.down()

    def restart(self, component: str) -> None:
        """Stop a broker (SIGTERM, as a deployment's restart) and start it; returns when it
        answers again."""
        self.stack.down([component])
        self.stack.up([component])

    def device_accounts(self, n: int) -> list[tuple[str, str]]:
        sims = [d.id for d in self.access.registry.devices if d.id.startswith("sim-")][:n]
        return [(d, self.access.mqtt(d).password.get_secret_value()) for d in sims]

    def publish_release(self) -> int:
        """A release of the load's model version on ``model.releases``: the processor counts
        only predictions of known releases. Returns its version."""
        from benchmarks.harness.stream_data import manifest
        from contract.schemas import examples
        from contract.topics import TOPIC_NAMES
        from services.releases.announce import release_key

        version = examples.prediction_event("x").model_version
        release = manifest(version)
        producer = self.access.kafka("admin").producer(acks="all")
        producer.send(
            TOPIC_NAMES["releases"], key=release_key(release), value=release.to_bytes()
        ).get(60)
        producer.close()
        return version

    def reader(self, topic: str, keep: Callable[[dict[str, Any]], bool],
               key: Callable[[dict[str, Any]], str] | None = None) -> TopicTail:  # fmt: skip
        return TopicTail(self.access, topic, keep, key or (lambda r: r["message_id"]))

    def windows_reader(self) -> WindowsTail:
        return WindowsTail(self.access, f"{PROCESSOR_APP}-windows-changelog")

    def seen_ids(self) -> set[str]:
        """Keys ("device/message id") the processor's dedup table ever held."""
        tail = _Tail(self.access, f"{PROCESSOR_APP}-seen-changelog")
        keys: set[str] = set()
        tail.read(lambda record: keys.add(json.loads(record.key)))
        tail.close()
        return keys


class _Tail:
    """Reads a topic from its start, each call up to its end offsets at that moment."""

    def __init__(self, access: Access, topic: str) -> None:
        from kafka import TopicPartition

        self.consumer = access.kafka("admin").consumer(enable_auto_commit=False)
        partitions = self.consumer.partitions_for_topic(topic) or set()
        self.tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_beginning(*self.tps)

    def close(self) -> None:
        self.consumer.close()

    def read(self, handle: Callable[[Any], None]) -> None:
        end = self.consumer.end_offsets(self.tps)
        while any(self.consumer.position(tp) < end[tp] for tp in self.tps):
            for batch in self.consumer.poll(timeout_ms=1000, max_records=20_000).values():
                for record in batch:
                    handle(record)


class TopicTail(_Tail):
    """JSON records that ``keep`` selects: how many, and their distinct ``key`` values."""

    def __init__(self, access: Access, topic: str, keep: Callable[[dict[str, Any]], bool],
                 key: Callable[[dict[str, Any]], str]) -> None:  # fmt: skip
        super().__init__(access, topic)
        self.keep, self.key, self.records, self._ids = keep, key, 0, set[str]()

    def _handle(self, record: Any) -> None:
        value = json.loads(record.value)
        if self.keep(value):
            self.records += 1
            self._ids.add(self.key(value))

    def poll_distinct(self) -> int:
        self.read(self._handle)
        return len(self._ids)

    def ids(self) -> set[str]:
        return set(self._ids)


class WindowsTail(_Tail):
    """The processor's window aggregates from their changelog: a window's count is its last
    value; a deletion (the window closed) keeps that count, and a value after a deletion
    would be a second window of the same key, counted on top."""

    def __init__(self, access: Access, topic: str) -> None:
        super().__init__(access, topic)
        self.closed: dict[str, int] = {}
        self.open: dict[str, int] = {}

    def _handle(self, record: Any) -> None:
        key = json.loads(record.key)
        if record.value is None:
            self.closed[key] = self.closed.get(key, 0) + self.open.pop(key, 0)
        else:
            self.open[key] = json.loads(record.value)["events"]

    def poll_counted(self) -> int:
        self.read(self._handle)
        return sum(self.closed.values()) + sum(self.open.values())

    def windows(self) -> dict[str, int]:
        return {"closed": len(self.closed), "open": len(self.open)}


class ServiceSet:
    """Services (of gateway, processor, labeler, distiller, rollout), each ``fleet <name>
    run`` as its own Kafka principal."""

    def __init__(self, stack: ChaosStack, names: list[str], logs: Path, window_s: float,
                 grace_s: float) -> None:  # fmt: skip
        specific = {
            "processor": {
                "FLEET_PROCESSOR_WINDOW_S": str(window_s),
                "FLEET_PROCESSOR_GRACE_S": str(grace_s),
                "FLEET_PROCESSOR_TICK_S": "0.5",
            },
            "labeler": {"FLEET_LABELER_TEACHER": "keyword"},
            "distiller": {
                "FLEET_DISTILLER_DRIFT_SOURCE": "off",
                "FLEET_DISTILLER_INTERVAL_S": str(365 * 86400),
                "FLEET_DISTILLER_TICK_S": "1",
                "FLEET_DISTILLER_TORCH_THREADS": "1",
            },
            "rollout": {"FLEET_ROLLOUT_TICK_S": "0.5"},
        }
        ports = stack.settings.metrics_ports.by_service()
        self.logs = logs
        self.services = {}
        for name in names:
            env = {**stack.env, **specific.get(name, {})}
            log = logs / f"{name}.log"
            self.services[name] = ServiceProcess(name, [name, "run"], env, log, ports[name])
        self.starts = dict.fromkeys(self.services, 0)

    def __enter__(self) -> ServiceSet:
        return self

    def __exit__(self, *exc: object) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    def _start(self, name: str) -> None:
        service = self.services[name]
        if self.starts[name]:  # keep the log of the run that ended
            service.log.rename(service.log.with_suffix(f".{self.starts[name]}.log"))
        self.starts[name] += 1
        service.start()
        wait_ready([service])

    def start_all(self) -> None:
        for name in self.services:
            self._start(name)

    def kill(self, name: str) -> None:
        """SIGKILL the service's process group (no shutdown hooks) and start it again."""
        proc = self.services[name].proc
        assert proc is not None
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        self._start(name)

    def supervise(self, exits: dict[str, int]) -> None:
        """Restart every service that exited on its own, counting it in ``exits``."""
        for name, service in self.services.items():
            if not service.running:
                exits[name] = exits.get(name, 0) + 1
                self._start(name)
