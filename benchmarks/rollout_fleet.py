"""Time for a release to reach N devices through canary -> fleet, on the real path: the
rollout manager publishes the retained manifest and serves chunks over Mosquitto, devices
(edge agents on the in-memory device, real OTA client) download, self-test and confirm, the
gateway bridges their reports to Kafka and the manager reads them to pass each stage.

    python -m benchmarks.rollout_fleet [--devices 50,200] [--chunk 16384]

Canary = dev-0001 and dev-0002; the fleet = simulator accounts sim-0000.. (``fleet devices
provision --count N`` sets how many exist). Bake times are 0, so the numbers are propagation
and stage judgement only; a real canary bakes for minutes on top.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from pathlib import Path

from services.security.kafka import KafkaAccess


def _topics(kafka: KafkaAccess, names: dict[str, bool], delete: bool = False) -> None:
    from kafka.admin import NewTopic

    admin = kafka.admin(client_id="bench-rollout")
    try:
        if delete:
            admin.delete_topics(list(names), timeout_ms=30_000)
        else:
            admin.create_topics(
                [NewTopic(n, 1, 1, topic_configs={"cleanup.policy": "compact"} if c else {})
                 for n, c in names.items()],
                timeout_ms=30_000,
            )  # fmt: skip
    finally:
        admin.close()


def _clear_retained(access) -> None:  # access: MqttAccess of the rollout account
    from contract.topics import group_manifest_topic

    client = access.client()
    client.connect(access.host, access.port)
    client.loop_start()
    for group in ("canary", "fleet"):
        client.publish(group_manifest_topic(group), b"", qos=1, retain=True).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()


def run_once(count: int, chunk: int) -> dict:
    from contract.schemas import examples
    from edge_agent.agent import Agent, AgentSettings
    from edge_agent.memory import MemoryDevice
    from edge_agent.transport import PahoTransport
    from models.blob import read_blob, write_blob
    from services.gateway.service import run as run_gateway
    from services.gateway.settings import GatewaySettings
    from services.releases.keys import load_or_create_key, public_bytes
    from services.rollout.metrics import RolloutMetrics
    from services.rollout.service import run as run_rollout
    from services.rollout.settings import RolloutSettings, StageSpec
    from services.security.access import Access
    from services.settings import REPO_ROOT, load_settings
    from services.stack import Stack

    fleet = load_settings()
    Stack(fleet).up(["kafka", "mosquitto"])
    access = Access(fleet)
    admin = access.kafka("admin")  # the benchmark's own topics, which the ACLs give no service
    registry = access.registry
    canary = [d.id for d in registry.group_members("canary")][:2]
    sims = [d.id for d in registry.devices if d.id.startswith("sim-")][: count - len(canary)]
    if len(canary) + len(sims) < count:
        raise SystemExit(f"only {len(sims)} simulator accounts; fleet devices provision --count")
    devices = canary + sims
    groups = {d: registry.device(d).group for d in devices}
    rollout_mqtt = access.mqtt("rollout")
    suffix = uuid.uuid4().hex[:8]
    names = {f"bench.releases.{suffix}": True, f"bench.status.{suffix}": False,
             f"bench.ops.{suffix}": False, f"bench.pred.{suffix}": False,
             f"bench.dlq.{suffix}": False}  # fmt: skip
    releases_t, status_t, ops_t, pred_t, dlq_t = names
    state_t = f"bench.rollouts.{suffix}"
    _topics(admin, names)
    _clear_retained(rollout_mqtt)
    tmp = Path(tempfile.mkdtemp(prefix="bench-rollout-"))
    key = load_or_create_key(tmp / "keys")
    stop, ready = threading.Event(), threading.Event()
    metrics = RolloutMetrics.create()
    gateway = GatewaySettings.from_fleet(
        access, client_id=f"gw-bench-{suffix}", share_group=f"gw{suffix}", kafka=admin,
        predictions_topic=pred_t, status_topic=status_t, dlq_topic=dlq_t, metrics_port=0,
        session_expiry_s=0,
    )  # fmt: skip
    settings = RolloutSettings(
        kafka=admin, group_id=f"rollout-{suffix}", releases_topic=releases_t,
        status_topic=status_t, ops_topic=ops_t, state_topic=state_t, mqtt=rollout_mqtt,
        release_root=tmp / "releases",
        keys_dir=tmp / "keys", metrics_port=0, tick_s=0.1,
        stages=(StageSpec(group="canary", timeout_s=600.0),
                StageSpec(group="fleet", max_failed=0.05, timeout_s=600.0)),
    )  # fmt: skip
    threads = [
        threading.Thread(target=run_gateway, args=(gateway, stop), daemon=True),
        threading.Thread(
            target=run_rollout, args=(settings, groups, stop, metrics, ready), daemon=True
        ),
    ]
    for thread in threads:
        thread.start()
    agents: dict[str, Agent] = {}
    try:
        assert ready.wait(60), "rollout manager did not start"
        golden = (REPO_ROOT / "tests" / "golden" / "intlstm" / "model.blob").read_bytes()
        for device_id in devices:
            device = MemoryDevice()
            device.provision(golden, 1)
            transport = PahoTransport(access.mqtt(device_id), session_expiry_s=0)
            agent_settings = AgentSettings(
                device_id=device_id,
                group=groups[device_id],
                trusted_key=public_bytes(key),
                chunk_size=chunk,
            )
            agents[device_id] = Agent(agent_settings, device, transport)
            agents[device_id].start()
        deadline = time.monotonic() + 120
        while metrics.registry.get_sample_value("fleet_rollout_devices_seen") != len(devices):
            assert time.monotonic() < deadline, "the manager did not see every device"
            for agent in agents.values():
                agent.heartbeat()
            time.sleep(1)

        # The release, stored and signed as the distiller does, then announced.
        import hashlib
        from datetime import UTC, datetime

        from contract.signing import sign
        from services.releases.store import ReleaseStore

        blob = write_blob(read_blob(golden).model, 2)
        manifest = sign(examples.release_manifest(2).model_copy(update={
            "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob),
            "created": datetime.now(UTC)}), key)  # fmt: skip
        ReleaseStore(tmp / "releases").put(manifest, blob)
        producer = admin.producer(acks="all")
        started = time.monotonic()
        producer.send(releases_t, key=b"t", value=manifest.to_bytes()).get(30)
        producer.close()
        reached: dict[str, float] = {}
        deadline = started + 900
        while len(reached) < len(devices):
            assert time.monotonic() < deadline, f"only {len(reached)} devices updated"
            now = time.monotonic() - started
            for device_id, agent in agents.items():
                if device_id not in reached and agent.model_version == 2:
                    reached[device_id] = now
            time.sleep(0.02)
        canary_s = max(reached[d] for d in canary)
        fleet_times = sorted(reached[d] for d in sims)
        return {
            "devices": len(devices),
            "canary_devices": len(canary),
            "blob_bytes": len(blob),
            "chunk_bytes": chunk,
            "canary_all_confirmed_s": round(canary_s, 2),
            "fleet_first_confirmed_s": round(fleet_times[0], 2),
            "fleet_median_confirmed_s": round(statistics.median(fleet_times), 2),
            "all_devices_confirmed_s": round(max(reached.values()), 2),
            "chunks_served": int(
                metrics.registry.get_sample_value("fleet_rollout_chunks_served") or 0
            ),
        }
    finally:
        for agent in agents.values():
            agent.close()
        stop.set()
        for thread in threads:
            thread.join(60)
        _clear_retained(rollout_mqtt)
        _topics(admin, {**names, state_t: True}, delete=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", default="20,100", help="fleet sizes (canary included)")
    parser.add_argument("--chunk", type=int, default=16_384, help="OTA bytes per request")
    args = parser.parse_args(argv)
    runs = [run_once(int(n), args.chunk) for n in args.devices.split(",")]
    print(json.dumps({"benchmark": "rollout_fleet", "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
