"""Gateway throughput and end-to-end latency against raw Mosquitto on this machine.

For each fixed publish rate, device accounts publish prediction events (QoS 1) for a few
seconds while ``fleet gateway run`` (a subprocess, as deployed) bridges them into a fresh
Kafka topic; a consumer reads them back. Reported per rate:

- ``throughput_msg_s``: records in Kafka / (last record consumed - first publish);
- ``e2e_ms`` p50/p99: device timestamp -> Kafka record timestamp (the gateway's produce time,
  CreateTime) and -> consume time.

Then the same publishers flood as fast as they can (the gateway's ceiling), and the raw
Mosquitto pub -> sub throughput (QoS 1, a monitor subscriber, no gateway) is measured as
the broker's ceiling in the same run; ``ratio`` = gateway max / Mosquitto max.

The flood's backlog (publish rate above the gateway's) queues in the gateway's Mosquitto
session; keep ``--flood`` below the broker's ``max_queued_messages`` or the broker drops the
excess (QoS 1 gives no protection past that bound).

Run: ``python -m benchmarks.gateway_throughput`` (prints JSON; starts Kafka and Mosquitto if
they are not running). Options: ``--rates``, ``--seconds``, ``--flood``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import threading
import time
import uuid

import numpy as np


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p99": float("nan")}
    arr = np.asarray(values) * 1000.0
    return {"p50": round(float(np.percentile(arr, 50)), 2),
            "p99": round(float(np.percentile(arr, 99)), 2)}  # fmt: skip


def _clients(stack, device_ids: list[str], protocol=None):
    import paho.mqtt.client as mqtt

    clients = []
    for device_id in device_ids:
        device = stack.registry.device(device_id)
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"bench-{device_id}-{uuid.uuid4().hex[:6]}",
            protocol=protocol or mqtt.MQTTv311,
        )
        client.username_pw_set(device.id, device.password)
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.connect(stack.host, stack.port, keepalive=30)
        client.loop_start()
        clients.append((device_id, client))
    return clients


def _publish(clients, count: int, rate: float | None, run_id: str) -> float:
    """Publish ``count`` events round-robin at ``rate`` (None = flat out); return start."""
    from services.schemas import examples

    template = examples.prediction_event("x", seq=0)
    payloads = {}
    start = time.monotonic()
    infos = []
    for i in range(count):
        device_id, client = clients[i % len(clients)]
        if device_id not in payloads:
            payloads[device_id] = template.model_copy(update={"device_id": device_id})
        event = payloads[device_id].model_copy(
            update={"seq": i, "message_id": f"{device_id}-{run_id}-{i}", "ts": time.time()}
        )
        infos.append(client.publish(f"fleet/{device_id}/pred", event.to_bytes(), qos=1))
        if rate:
            lag = start + (i + 1) / rate - time.monotonic()
            if lag > 0:
                time.sleep(lag)
    for info in infos[-len(clients) :]:
        info.wait_for_publish(timeout=60)
    return start


class _Stack:
    def __init__(self) -> None:
        from services.settings import load_settings
        from services.stack import Stack, load_registry

        self.settings = load_settings()
        Stack(self.settings).up(["kafka", "mosquitto"])
        self.registry = load_registry(self.settings.stack.registry)
        self.host = self.settings.stack.host
        self.port = self.settings.stack.mosquitto.port
        self.bootstrap = self.settings.kafka_bootstrap


def _gateway(stack: _Stack, topic: str, log_path: str) -> subprocess.Popen:
    group = f"bench{uuid.uuid4().hex[:6]}"
    argv = [sys.executable, "-m", "services.cli", "gateway", "run", "--client-id", group,
            "--share-group", group, "--predictions-topic", topic, "--status-topic", topic,
            "--dlq-topic", topic, "--metrics-port", "0"]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
    deadline = time.monotonic() + 30
    with open(log_path, "rb") as reader:
        text = ""
        while "subscribed to" not in text:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gateway did not start: {text[-2000:]}")
            time.sleep(0.1)
            text += reader.read().decode(errors="replace")
    return proc


def _consume(bootstrap: str, topic: str, expected: set[str], timeout_s: float):
    """Records of this run (other traffic on the shared topics is skipped)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, group_id=None)  # fmt: skip
    seen: dict[str, tuple[float, float, float]] = {}  # id -> (device ts, record ts, consumed)
    last = time.monotonic()
    deadline = time.monotonic() + timeout_s
    try:
        while len(seen) < len(expected) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200, max_records=10_000).values():
                now = time.time()
                for record in batch:
                    event = json.loads(record.value)
                    message_id = event.get("message_id")
                    if message_id in expected and message_id not in seen:
                        seen[message_id] = (event["ts"], record.timestamp / 1000, now)
                        last = time.monotonic()
    finally:
        consumer.close()
    return seen, last


def gateway_run(stack: _Stack, rate: float | None, count: int, devices: list[str]) -> dict:
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"bench.gateway.{uuid.uuid4().hex[:10]}"
    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    admin.create_topics([NewTopic(topic, 6, 1)], timeout_ms=30_000)
    log_path = f"/tmp/{topic}.log"
    gateway = _gateway(stack, topic, log_path)
    clients = _clients(stack, devices)
    # Warm-up: the gateway's first produce fetches the new topic's metadata (about 1 s).
    _publish(clients, 2 * len(clients), None, uuid.uuid4().hex[:8])
    time.sleep(2.0)
    run_id = uuid.uuid4().hex[:8]
    expected = {f"{devices[i % len(devices)]}-{run_id}-{i}" for i in range(count)}
    result: dict = {}

    def consume() -> None:
        timeout_s = 60 + count / 200
        result["seen"], result["last"] = _consume(stack.bootstrap, topic, expected, timeout_s)

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        start = _publish(clients, count, rate, run_id)
        publish_s = time.monotonic() - start
        consumer.join()
    finally:
        for _, client in clients:
            client.disconnect()
            client.loop_stop()
        gateway.terminate()
        try:
            gateway.wait(90)
        except subprocess.TimeoutExpired:
            gateway.kill()
            gateway.wait(10)
        admin.delete_topics([topic], timeout_ms=30_000)
        admin.close()
    seen = result["seen"]
    elapsed = result["last"] - start
    return {
        "rate_msg_s": rate or "flood",
        "messages": count,
        "received": len(seen),
        "publish_msg_s": round(count / publish_s, 1),
        "throughput_msg_s": round(len(seen) / elapsed, 1),
        "e2e_to_record_ms": _percentiles([r - d for d, r, _ in seen.values()]),
        "e2e_to_consume_ms": _percentiles([c - d for d, _, c in seen.values()]),
    }


def mosquitto_ceiling(stack: _Stack, count: int, devices: list[str]) -> dict:
    """Raw pub -> sub: the same publishers, a QoS 1 subscriber, no gateway."""
    import paho.mqtt.client as mqtt

    account = stack.registry.service("monitor")
    got = {"n": 0, "last": 0.0}
    done = threading.Event()
    sub = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"bench-sub-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv311,
    )
    sub.username_pw_set("monitor", account.password)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *a: subscribed.set()

    def on_message(client, userdata, message) -> None:
        got["n"] += 1
        got["last"] = time.monotonic()
        if got["n"] >= count:
            done.set()

    sub.on_message = on_message
    sub.connect(stack.host, stack.port, keepalive=30)
    sub.loop_start()
    sub.subscribe([(f"fleet/{d}/pred", 1) for d in devices])
    subscribed.wait(10)
    clients = _clients(stack, devices)
    try:
        start = _publish(clients, count, None, uuid.uuid4().hex[:6])
        done.wait(60)
    finally:
        for _, client in [*clients, ("sub", sub)]:
            client.disconnect()
            client.loop_stop()
    return {"messages": count, "received": got["n"],
            "throughput_msg_s": round(got["n"] / (got["last"] - start), 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="250,1000,2000", help="publish rates, msg/s")
    parser.add_argument("--seconds", type=float, default=8.0, help="per fixed rate")
    parser.add_argument("--flood", type=int, default=10_000, help="messages flat out")
    args = parser.parse_args(argv)
    stack = _Stack()
    devices = [d.id for d in stack.registry.devices if d.id.startswith("sim-")][:20]
    runs = [
        gateway_run(stack, float(rate), int(float(rate) * args.seconds), devices)
        for rate in args.rates.split(",")
    ]
    flood = gateway_run(stack, None, args.flood, devices)
    ceiling = mosquitto_ceiling(stack, args.flood, devices)
    print(json.dumps({
        "benchmark": "gateway_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "publishers": len(devices),
        "fixed_rates": runs,
        "gateway_flood": flood,
        "mosquitto_pub_sub": ceiling,
        "ratio_gateway_to_mosquitto": round(
            flood["throughput_msg_s"] / ceiling["throughput_msg_s"], 3),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
