"""Run the rollout manager until SIGTERM/SIGINT: one consumer group on the three inputs, the
clock for stage judgements, outputs before offsets are committed.

A failed output (MQTT publish without PUBACK, a state write Kafka did not acknowledge) stops
the loop with exit status 1 and leaves the inputs uncommitted; the next start resumes from the
state topic and re-publishes the retained manifest of every rollout in progress.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

from models.errors import ConfigError
from services.errors import ServiceError
from services.releases.announce import ReleaseAnnouncer
from services.releases.keys import load_or_create_key
from services.releases.store import ReleaseStore
from services.rollout.adapters import ManifestPublisher, RolloutIOError, StateStore
from services.rollout.chunks import ChunkServer
from services.rollout.manager import RolloutManager
from services.rollout.metrics import RolloutMetrics
from services.rollout.settings import RolloutSettings, StageSpec
from services.security.access import Access

log = logging.getLogger("services.rollout")


def default_stages(groups: list[str]) -> tuple[StageSpec, ...]:
    """The registry's groups, ``canary`` first: strict criteria and a bake for canary, a
    90 % / 5 % bar for the others."""
    ordered = sorted(groups, key=lambda g: (g != "canary", groups.index(g)))
    return tuple(
        StageSpec(group=g, min_confirmed=1.0, max_failed=0.0, bake_s=30.0, timeout_s=900.0)
        if g == "canary"
        else StageSpec(group=g, min_confirmed=0.9, max_failed=0.05, bake_s=0.0, timeout_s=3600.0)
        for g in ordered
    )


def settings_from_fleet(access: Access, **overrides: Any) -> RolloutSettings:
    """Defaults from the fleet settings and registry; ``FLEET_ROLLOUT_*`` overrides them."""
    fleet, registry = access.fleet, access.registry
    values = {
        "kafka": access.kafka_for("rollout"),
        "mqtt": access.mqtt("rollout"),
        "release_root": fleet.data_dir / "releases",
        "keys_dir": fleet.data_dir / "keys",
        "stages": default_stages(list(registry.groups)),
        "metrics_port": fleet.metrics_ports.rollout,
        **overrides,
    }
    return RolloutSettings(**values)


def build_manager(
    settings: RolloutSettings,
    device_groups: dict[str, str],
    publisher: ManifestPublisher,
    state: StateStore,
    release_sink: ReleaseAnnouncer,
    chunks: ChunkServer,
    metrics: RolloutMetrics,
) -> RolloutManager:
    key = load_or_create_key(Path(settings.keys_dir))
    trusted = (Path(settings.keys_dir) / "release.pub").read_bytes()
    return RolloutManager(
        settings, ReleaseStore(Path(settings.release_root)), trusted, key, device_groups,
        publisher, state, release_sink, chunks, metrics,
    )  # fmt: skip


def run(
    settings: RolloutSettings,
    device_groups: dict[str, str],
    stop: threading.Event,
    metrics: RolloutMetrics | None = None,
    ready: threading.Event | None = None,
) -> int:
    """Manage rollouts until ``stop`` is set; 0 after a clean stop, 1 after a failed output."""
    from kafka.errors import KafkaError

    from services.releases.announce import KafkaAnnouncer
    from services.rollout.publisher import MqttManifestPublisher
    from services.rollout.state import KafkaStateStore, recent_reporters
    from services.security.kafka import required

    metrics = metrics or RolloutMetrics.create()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    s = settings
    if s.mqtt is None:
        raise ConfigError("the rollout manager needs its MQTT account (settings.mqtt)")
    kafka = required(s.kafka, "the rollout manager")
    state = KafkaStateStore(kafka, s.state_topic)
    sink = KafkaAnnouncer(kafka, s.releases_topic)
    publisher = MqttManifestPublisher(s.mqtt, s.publish_timeout_s)
    chunks = ChunkServer()
    chunk_client = chunks.serve_mqtt(s.mqtt)
    consumer = kafka.consumer(
        s.releases_topic, s.status_topic, s.ops_topic,
        group_id=s.group_id, enable_auto_commit=False,
        auto_offset_reset="earliest", client_id="fleet-rollout",
    )  # fmt: skip
    try:
        manager = build_manager(s, device_groups, publisher, state, sink, chunks, metrics)
        manager.load()
        since = time.time() - s.active_window_s
        manager.seen.update(recent_reporters(kafka, s.status_topic, since))
        manager.flush()
        if not chunks.ready.wait(s.publish_timeout_s):
            raise RolloutIOError("the chunk server's subscription was not acknowledged")
        log.info("rollout manager running; stages %s", [g.group for g in s.stages])
        if ready is not None:
            ready.set()
        next_tick = 0.0
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=s.poll_timeout_ms)
            for partition, records in batches.items():
                for record in records:
                    where = f"{partition.topic}[{partition.partition}]@{record.offset}"
                    manager.handle(partition.topic, record.value, where)
            if time.monotonic() >= next_tick:
                manager.tick()
                next_tick = time.monotonic() + s.tick_s
            manager.flush()
            if batches:
                try:
                    consumer.commit()
                except KafkaError as exc:  # redelivered later; every handler is idempotent
                    log.warning("offset commit failed: %s", exc)
    except RolloutIOError as exc:
        log.error("output failed, stopping with inputs uncommitted: %s", exc)
        return 1
    finally:
        consumer.close()
        chunk_client.disconnect()
        chunk_client.loop_stop()
        publisher.close()
        state.close()
        sink.close()
    log.info("rollout manager stopped")
    return 0


def main(config: Path | None = None) -> int:
    from services.settings import load_settings

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    access = Access(load_settings(config))
    registry = access.registry
    settings = settings_from_fleet(access)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return run(settings, {d.id: d.group for d in registry.devices}, stop)
    except (ServiceError, ConfigError) as exc:  # Kafka or Mosquitto unreachable at start, a
        # bad key file, no MQTT account
        log.error("rollout manager cannot start: %s", exc)
        return 1
