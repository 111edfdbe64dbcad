"""Where one gateway process spends its CPU under a flood: py-spy samples, by component.

Starts ``fleet gateway run`` on a fresh topic, attaches ``py-spy record`` (raw collapsed
stacks, idle samples excluded) and floods it with ``mqttload`` (C). Each sample is charged to
the innermost frame that belongs to a known part of the gateway (MQTT read, validation, the
Kafka produce call, Kafka's own Python client, delivery callbacks, MQTT acks); shares are of
the samples in which a thread was running Python. CPU time of native threads (librdkafka's)
is not in py-spy's samples: ``cpu_ms_per_1k`` is the whole process (``/proc``).

Run: ``python -m benchmarks.gateway_profile`` (prints JSON; needs root or ptrace rights for
py-spy). Options: ``--messages``, ``--rate``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from benchmarks.gateway_throughput import (
    _cpu_s,
    _create_topic,
    _delete_topic,
    _Gateways,
    _read_back,
    _Stack,
)

# function name (as py-spy prints it) -> component; the innermost match wins
COMPONENTS = {
    "parse": "validate payload (pydantic)",
    "parse_prediction": "validate payload (pydantic)",
    "parse_device_status": "validate payload (pydantic)",
    "KafkaSink.send": "produce call",
    "KafkaProducer.send": "produce call",
    "KafkaSink._poll": "Kafka delivery reports",
    "Sender.run": "Kafka client in Python (kafka-python)",
    "Bridge._delivered": "delivery callback (metrics, ack)",
    "MqttIntake._ack": "MQTT acknowledgements",
    "MqttIntake._send_acks": "MQTT acknowledgements",
    "Client.ack": "MQTT acknowledgements",
    "MqttIntake._read": "MQTT read and decode",
    "PacketReader.feed": "MQTT read and decode",
    "Client._packet_read": "MQTT read and decode",
    "Client.loop_forever": "MQTT read and decode",
    "Bridge._route": "route (topic, DLQ)",
    "Bridge.submit": "route (topic, DLQ)",
    "Bridge._dispatch": "dispatcher thread",
}


def categorize(raw: str) -> dict[str, float]:
    shares: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        names = [frame.split(" (")[0] for frame in stack.split(";")]
        component = next((COMPONENTS[f] for f in reversed(names) if f in COMPONENTS), "other")
        shares[component] += n
    return {k: round(v / total, 3) for k, v in shares.most_common()} if total else {}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=40_000)
    parser.add_argument("--rate", type=float, default=0.0, help="msg/s; 0 = flat out")
    parser.add_argument("--devices", type=int, default=20)
    args = parser.parse_args(argv)
    stack = _Stack()
    topic = f"bench.profile.{os.getpid()}.{int(time.time())}"
    _create_topic(stack.kafka, topic)
    py_spy = Path(sys.executable).with_name("py-spy")
    with tempfile.TemporaryDirectory() as tmp:
        gateways = _Gateways(stack, 1, topic, Path(tmp), [])
        out = Path(tmp) / "profile.txt"
        try:
            stack.load(args.devices, 4 * args.devices, 0.0)  # warm-up
            pid = gateways.procs[0].pid
            spy = subprocess.Popen(
                [str(py_spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                 "--nonblocking", "--threads", "--output", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(1.0)  # attached
            cpu = _cpu_s(pid)
            load = stack.load(args.devices, args.messages, args.rate)
            stored = len(_read_back(stack.kafka, topic, load["run_id"], args.messages))
            cpu = _cpu_s(pid) - cpu  # once every message is in Kafka (the backlog drained)
            spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
            spy.wait(60)
        finally:
            gateways.stop()
            _delete_topic(stack.kafka, topic)
        raw = out.read_text() if out.exists() else ""
    print(json.dumps({
        "benchmark": "gateway_profile",
        "messages": args.messages,
        "publish_msg_s": round(args.messages / load["publish_s"], 1),
        "stored": stored,
        "cpu_ms_per_1k": round(1000 * cpu / args.messages * 1000, 1),
        "python_samples_by_component": categorize(raw),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
