"""``make demo``: start the local stack and run the thinnest end-to-end slice that exists.

1. ``fleet stack up`` (reuses a running stack).
2. A minimal MQTT -> Kafka bridge subscribes as the gateway account (shared subscription)
   and forwards each valid prediction to ``fleet.predictions`` keyed by device id, each
   invalid one to ``fleet.predictions.dlq`` with the reason. (The real gateway service
   replaces this loop.)
3. A few devices publish prediction events over MQTT (QoS 1), one of them also a
   malformed payload.
4. The records are read back from Kafka and printed; the stack is left running.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from services.errors import ServiceError, ValidationError
from services.schemas import PredictionEvent, examples, parse_prediction
from services.settings import TOPIC_NAMES, FleetSettings, load_settings
from services.stack import Stack, load_registry
from services.stack.cli import print_status

DEVICES = 3  # how many registry devices publish
EVENTS_PER_DEVICE = 3


@dataclass
class Bridge:
    """MQTT (gateway account) -> Kafka, at least once: the QoS 1 message is acknowledged by
    paho when the callback returns, after the Kafka send was handed to the producer."""

    settings: FleetSettings
    username: str
    password: str

    def __post_init__(self) -> None:
        import paho.mqtt.client as mqtt
        from kafka import KafkaProducer

        self.forwarded = 0
        self.rejected = 0
        self.ready = threading.Event()
        self.producer = KafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap, acks="all", enable_idempotence=True
        )
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"demo-bridge-{uuid.uuid4().hex[:6]}",
        )
        self.client.username_pw_set(self.username, self.password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        client.subscribe("$share/gateway/fleet/+/pred", qos=1)

    def _on_message(self, client, userdata, message) -> None:
        device_id = message.topic.split("/")[1]
        try:
            event = parse_prediction(message.payload)
            if event.device_id != device_id:
                raise ValidationError(f"device_id {event.device_id} != topic {message.topic}")
        except ValidationError as exc:
            dlq = {"topic": message.topic, "reason": exc.reason, "payload": repr(message.payload)}
            self.producer.send(
                TOPIC_NAMES["predictions_dlq"],
                key=device_id.encode(),
                value=json.dumps(dlq, ensure_ascii=False).encode(),
            )
            self.rejected += 1
            return
        self.producer.send(
            TOPIC_NAMES["predictions"], key=device_id.encode(), value=event.to_bytes()
        )
        self.forwarded += 1

    def start(self) -> None:
        stack = self.settings.stack
        self.client.connect(stack.host, stack.mosquitto.port)
        self.client.loop_start()
        if not self.ready.wait(10):
            raise ServiceError("bridge did not subscribe within 10 s")

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self.producer.flush(timeout=30)
        self.producer.close()


def publish_as_devices(settings: FleetSettings, run: str) -> list[str]:
    """Each device connects with its own account and publishes a few events; returns ids."""
    import paho.mqtt.client as mqtt

    registry = load_registry(settings.stack.registry)
    sent = []
    for device in registry.devices[:DEVICES]:
        client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id=device.id
        )
        client.username_pw_set(device.username, device.password)
        client.connect(settings.stack.host, settings.stack.mosquitto.port)
        client.loop_start()
        for seq in range(EVENTS_PER_DEVICE):
            event = examples.prediction_event(device_id=device.id, seq=seq)
            event = event.model_copy(update={"message_id": f"{device.id}-{run}-{seq}"})
            client.publish(f"fleet/{device.id}/pred", event.to_bytes(), qos=1).wait_for_publish(10)
            sent.append(event.message_id)
        if device is registry.devices[0]:
            client.publish(f"fleet/{device.id}/pred", b'{"text": "half a message', qos=1)
        client.disconnect()
        client.loop_stop()
    return sent


def read_back(consumer, run: str, expected: int, expected_dlq: int):
    """Poll both topics until this run's records are in (or 30 s have passed)."""
    rows: list[tuple[PredictionEvent, int, int]] = []
    dlq: list[dict[str, str]] = []
    deadline = time.monotonic() + 30
    while (len(rows) < expected or len(dlq) < expected_dlq) and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=500).values():
            for record in records:
                if record.topic == TOPIC_NAMES["predictions_dlq"]:
                    dlq.append(json.loads(record.value))
                    continue
                event = parse_prediction(record.value)
                if f"-{run}-" in event.message_id:
                    rows.append((event, record.partition, record.offset))
    return rows, dlq


def main() -> None:
    console = Console()
    settings = load_settings()
    stack = Stack(settings)
    console.print("[bold]1. starting the local stack[/] (reuses what already runs)")
    started = time.monotonic()
    stack.up()
    console.print(f"   stack up in {time.monotonic() - started:.1f}s")
    print_status(stack)

    from kafka import KafkaConsumer, TopicPartition

    # Read only what this run produces: position at the end of both topics first.
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    partitions = [
        TopicPartition(topic, p)
        for topic in (TOPIC_NAMES["predictions"], TOPIC_NAMES["predictions_dlq"])
        for p in sorted(consumer.partitions_for_topic(topic) or [])
    ]
    consumer.assign(partitions)
    consumer.seek_to_end()
    for tp in partitions:
        consumer.position(tp)

    registry = load_registry(settings.stack.registry)
    gateway = registry.service("gateway")
    bridge = Bridge(settings, "gateway", gateway.password)
    bridge.start()
    run = uuid.uuid4().hex[:6]
    console.print(
        f"[bold]2. {DEVICES} devices publish {EVENTS_PER_DEVICE} predictions each over MQTT[/]"
        " (plus one malformed payload)"
    )
    sent = publish_as_devices(settings, run)
    rows, dlq = read_back(consumer, run, len(sent), expected_dlq=1)
    bridge.stop()
    consumer.close()

    console.print("[bold]3. read back from Kafka fleet.predictions[/]")
    table = Table()
    for column in ("device", "message id", "text", "label", "conf", "model", "µs", "part", "off"):
        table.add_column(column)
    for event, partition, offset in sorted(rows, key=lambda r: r[0].message_id):
        table.add_row(
            event.device_id,
            event.message_id,
            event.text,
            event.label,
            f"{event.confidence:.2f}",
            str(event.model_version),
            str(event.latency_us),
            str(partition),
            str(offset),
        )
    console.print(table)
    for entry in dlq:
        console.print(f"   dead letter from {entry['topic']}: {entry['reason']}")
    ok = len(rows) == len(sent)
    console.print(
        f"{'[green]' if ok else '[red]'}{len(rows)}/{len(sent)} predictions arrived[/], "
        f"{len(dlq)} dead letter(s)."
    )
    console.print(
        "\nThe stack keeps running: `fleet stack status` shows it, `fleet stack down` stops it."
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
