"""Gateway throughput and end-to-end latency against raw Mosquitto, in one run.

The load comes from ``mqttload`` (C, libmosquitto; ``benchmarks/loadgen``), so the load
generator is not what limits either number. Device accounts publish prediction events at
QoS 1, round-robin:

1. ``mosquitto_raw``: flat out, to 4 QoS 1 subscribers on one ``$share`` subscription (MQTT
   v5, the gateway's account and path through the broker) in the generator's own process:
   the broker's publish -> subscriber rate on this machine, and its latency.
   ``broker_cpu_cores`` (Mosquitto's and Kafka's CPU seconds per second of the run, from
   ``/proc``) shows which process was busy: near 1.0 for Mosquitto is its one core.
2. ``gateway``: the same load through ``fleet gateway run`` (subprocesses, as deployed) into
   a fresh 6-partition Kafka topic with ``LogAppendTime`` timestamps, so a record's timestamp
   is when the broker stored it. At fixed offered rates (``--rates``) and flat out
   (``saturation``): throughput = records stored / (last record's append time - first
   publish); e2e = device timestamp -> append time, p50/p99. ``cpu_ms_per_1k`` is the gateway
   processes' CPU time per 1 000 messages (``/proc``), the number the capacity model scales.
3. ``scale_out``: flat out through 1, 2, 3 gateway processes in one share group.

The raw and the one-gateway floods alternate for ``--rounds`` rounds, so each pair sees the
machine in about the same state; ``ratio_gateway_to_mosquitto`` is the median of the rounds'
ratios (gateway saturation / raw rate), the other figures are the median round. On a shared
2-CPU machine every process (generator, Mosquitto, gateways, Kafka) competes for the same
cores, so the numbers move with the machine's load; the JSON records the load average.

Run: ``python -m benchmarks.gateway_throughput`` (prints JSON; starts Kafka and Mosquitto if
they are not running). Options: ``--rates``, ``--seconds``, ``--flood``, ``--gateways``,
``--devices``. Keep ``--flood`` below Mosquitto's ``max_queued_messages`` (100 000): a
gateway slower than the generator works off a backlog queued in its session.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from benchmarks import loadgen
from services.security.kafka import KafkaAccess


def _percentiles(values_s: list[float]) -> dict[str, float]:
    if not values_s:
        return {"p50": float("nan"), "p99": float("nan")}
    arr = np.asarray(values_s) * 1000.0
    return {"p50": round(float(np.percentile(arr, 50)), 1),
            "p99": round(float(np.percentile(arr, 99)), 1)}  # fmt: skip


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


class _Stack:
    def __init__(self) -> None:
        from services.security.access import Access
        from services.settings import load_settings
        from services.stack import Stack

        self.settings = load_settings()
        stack = Stack(self.settings)
        stack.up(["kafka", "mosquitto"])
        pids = {c.name: c.pid for c in stack.status()}
        self.broker_pids = {"mosquitto": pids["mosquitto"], "kafka": pids["kafka"]}
        self.access = Access(self.settings)
        self.registry = self.access.registry
        self.host = self.settings.stack.host
        self.port = self.settings.stack.mosquitto.port  # the devices' listener
        self.kafka = self.access.kafka("admin")  # its own topics; the gateways run as admin

    def accounts(self, n: int) -> list[tuple[str, str]]:
        sims = [d for d in self.registry.devices if d.id.startswith("sim-")][:n]
        return [(d.id, self.access.mqtt(d.id).password.get_secret_value()) for d in sims]

    def load(self, n_devices: int, count: int, rate: float = 0.0, **kw) -> dict:
        """The generator's JSON, plus the brokers' CPU use while it ran (cores busy)."""
        run_id = uuid.uuid4().hex[:10]
        cpu = {name: _cpu_s(pid) for name, pid in self.broker_pids.items() if pid}
        started = time.monotonic()
        out = loadgen.run(
            self.host, self.port, self.accounts(n_devices), count, run_id, rate,
            cafile=self.settings.ca_file, **kw,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        out["run_id"] = run_id
        out["broker_cpu_cores"] = {
            name: round((_cpu_s(self.broker_pids[name]) - before) / elapsed, 2)
            for name, before in cpu.items()
        }
        return out


def _admin(kafka: KafkaAccess):
    from confluent_kafka.admin import AdminClient

    from services.kafka_clients import client_config

    return AdminClient(client_config(kafka, "bench-admin"))


def _create_topic(kafka: KafkaAccess, name: str) -> None:
    from confluent_kafka.admin import NewTopic

    topic = NewTopic(name, 6, 1, config={"message.timestamp.type": "LogAppendTime"})
    admin = _admin(kafka)  # referenced until done: a collected client cancels its requests
    for future in admin.create_topics([topic]).values():
        future.result(30)


def _delete_topic(kafka: KafkaAccess, name: str) -> None:
    admin = _admin(kafka)
    for future in admin.delete_topics([name]).values():
        future.result(30)


def _read_back(kafka: KafkaAccess, topic: str, run_id: str, count: int, idle_s: float = 20.0):
    """(device ts, append ts) of this run's records; stops when all ``count`` arrived or
    nothing new came for ``idle_s``."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from services.kafka_clients import client_config

    consumer = Consumer(client_config(
        kafka, "bench-reader", **{"group.id": f"bench-{uuid.uuid4().hex[:8]}",
                                      "enable.auto.commit": False}))  # fmt: skip
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(6)])
    tag = f"-{run_id}-".encode()
    seen: dict[bytes, tuple[float, float]] = {}
    last_progress = time.monotonic()
    try:
        while len(seen) < count and time.monotonic() - last_progress < idle_s:
            for record in consumer.consume(10_000, timeout=0.5):
                value = record.value()
                if record.error() or value is None or tag not in value:
                    continue
                event = json.loads(value)
                seen[event["message_id"].encode()] = (event["ts"], record.timestamp()[1] / 1000)
                last_progress = time.monotonic()
    finally:
        consumer.close()
    return list(seen.values())


class _Gateways:
    """``n`` ``fleet gateway run`` processes in one fresh share group, writing one topic."""

    def __init__(self, stack: _Stack, n: int, topic: str, log_dir: Path, extra: list[str]):
        group = f"bench{uuid.uuid4().hex[:6]}"
        self.stack = stack
        self.client_ids = [f"{group}-{i}" for i in range(n)]
        self.procs: list[subprocess.Popen] = []
        for i in range(n):
            log_path = log_dir / f"{group}-{i}.log"
            argv = [sys.executable, "-m", "services.cli", "gateway", "run",
                    "--client-id", f"{group}-{i}", "--share-group", group,
                    "--predictions-topic", topic, "--status-topic", topic, "--dlq-topic", topic,
                    "--metrics-port", "0", *extra]  # fmt: skip
            with log_path.open("wb") as log:
                proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1",
                                             # the benchmark's own topics: as admin
                                             "FLEET_SECURITY__KAFKA_ACCOUNT": "admin"})  # fmt: skip
            self.procs.append(proc)
            deadline = time.monotonic() + 60
            while "subscribed to" not in log_path.read_text(errors="replace"):
                if proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"gateway did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)

    def cpu_s(self) -> float:
        return sum(_cpu_s(p.pid) for p in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(90)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        # A stopped gateway's session stays in the share group for an hour and would queue a
        # copy of every later run's messages in the broker: end it.
        from services.gateway.mqtt import end_session
        from services.gateway.settings import GatewaySettings

        for client_id in self.client_ids:
            end_session(GatewaySettings.from_fleet(self.stack.access, client_id=client_id))


def _through(stack: _Stack, gateways: _Gateways, topic: str, n_devices: int, count: int,
             rate: float) -> dict:  # fmt: skip
    cpu = gateways.cpu_s()
    load = stack.load(n_devices, count, rate)
    records = _read_back(stack.kafka, topic, load["run_id"], count)
    cpu = gateways.cpu_s() - cpu
    stored = [append for _, append in records]
    elapsed = (max(stored) - load["start_ts"]) if stored else float("nan")
    return {
        "offered_msg_s": rate or "flat out",
        "messages": count,
        "stored": len(records),
        "publish_msg_s": round(count / load["publish_s"], 1),
        "throughput_msg_s": round(len(records) / elapsed, 1),
        "e2e_to_kafka_ms": _percentiles([append - device for device, append in records]),
        "cpu_ms_per_1k": round(1000 * cpu / max(1, len(records)) * 1000, 1),
        "broker_cpu_cores": load["broker_cpu_cores"],
    }


def gateway_series(stack: _Stack, n_gateways: int, n_devices: int, rates: list[float],
                   seconds: float, flood: int, rounds: int, log_dir: Path, extra: list[str],
                   raw_rounds: list[dict] | None = None) -> dict:  # fmt: skip
    """Fixed rates, then ``rounds`` floods; with ``raw_rounds`` each flood follows a raw
    Mosquitto flood, so both see the machine in the same state (appended to the list)."""
    topic = f"bench.gateway.{uuid.uuid4().hex[:10]}"
    _create_topic(stack.kafka, topic)
    gateways = _Gateways(stack, n_gateways, topic, log_dir, extra)
    try:
        # Warm-up: the first produce fetches the new topic's metadata.
        stack.load(n_devices, 4 * n_devices, 0.0)
        runs = [
            _through(stack, gateways, topic, n_devices, int(rate * seconds), rate) for rate in rates
        ]
        floods = []
        for _ in range(rounds):
            if raw_rounds is not None:
                raw_rounds.append(mosquitto_raw(stack, n_devices, flood))
            floods.append(_through(stack, gateways, topic, n_devices, flood, 0.0))
    finally:
        gateways.stop()
        _delete_topic(stack.kafka, topic)
    median = sorted(floods, key=lambda r: r["throughput_msg_s"])[len(floods) // 2]
    return {
        "gateways": n_gateways,
        "fixed_rates": runs,
        "saturation": median,
        "saturation_rounds_msg_s": [r["throughput_msg_s"] for r in floods],
    }


def mosquitto_raw(stack: _Stack, n_devices: int, count: int) -> dict:
    account = stack.access.mqtt("gateway")
    share = f"raw{uuid.uuid4().hex[:6]}"
    subscriber = ("gateway", account.password.get_secret_value(), share)
    load = stack.load(n_devices, count, 0.0, subscriber=subscriber, sub_port=account.port)
    sub = load["sub"]
    return {
        "messages": count,
        "received": sub["received"],
        "publish_msg_s": round(count / load["publish_s"], 1),
        "throughput_msg_s": round(sub["received"] / (sub["last_ts"] - load["start_ts"]), 1),
        "latency_ms": sub["latency_ms"],
        "subscribers": sub["subs"],
        "broker_cpu_cores": load["broker_cpu_cores"],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,2000,5000", help="offered rates, msg/s")
    parser.add_argument("--seconds", type=float, default=10.0, help="per offered rate")
    parser.add_argument("--flood", type=int, default=60_000, help="messages flat out")
    parser.add_argument("--gateways", default="1,2,3", help="gateway counts for scale-out")
    parser.add_argument("--devices", type=int, default=20, help="publishing device accounts")
    parser.add_argument("--max-in-flight", type=int, help="the gateways' MQTT Receive Maximum")
    parser.add_argument("--linger-ms", type=float, help="the gateways' Kafka batching delay")
    parser.add_argument("--rounds", type=int, default=3, help="raw + gateway floods, alternating")
    args = parser.parse_args(argv)
    stack = _Stack()
    rates = [float(r) for r in args.rates.split(",") if r]
    counts = [int(n) for n in args.gateways.split(",") if n]
    load_before = os.getloadavg()
    # 20 accounts stand in for a whole fleet here: far above one real device's rate
    extra = ["--device-rate", "0"]
    extra += [] if args.max_in_flight is None else ["--max-in-flight", str(args.max_in_flight)]
    extra += [] if args.linger_ms is None else ["--linger-ms", str(args.linger_ms)]
    raws: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        one = gateway_series(stack, 1, args.devices, rates, args.seconds, args.flood,
                             args.rounds, Path(tmp), extra, raws)  # fmt: skip
        scale = [{"gateways": 1, **one["saturation"]}] if 1 in counts else []
        for n in counts:
            if n != 1:
                series = gateway_series(stack, n, args.devices, [], 0, args.flood, args.rounds,
                                        Path(tmp), extra)  # fmt: skip
                scale.append({"gateways": n, **series["saturation"]})
    raw = sorted(raws, key=lambda r: r["throughput_msg_s"])[len(raws) // 2]
    ratios = [
        round(g / r["throughput_msg_s"], 3)
        for g, r in zip(one["saturation_rounds_msg_s"], raws, strict=True)
    ]
    print(json.dumps({
        "benchmark": "gateway_throughput",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_1m_before_after": [round(load_before[0], 2),
                                                round(os.getloadavg()[0], 2)]},
        "load_generator": "benchmarks/loadgen/mqttload.c (libmosquitto)",
        "publishers": args.devices,
        "gateway_args": extra,
        "mosquitto_raw": raw,
        "mosquitto_raw_rounds_msg_s": [r["throughput_msg_s"] for r in raws],
        "gateway": one,
        "ratio_gateway_to_mosquitto_rounds": ratios,
        "ratio_gateway_to_mosquitto": sorted(ratios)[len(ratios) // 2],
        "scale_out": [{k: s[k] for k in ("gateways", "throughput_msg_s", "e2e_to_kafka_ms",
                                         "cpu_ms_per_1k")} for s in scale],
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
