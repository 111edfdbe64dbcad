"""Run one gateway process until SIGTERM/SIGINT, then drain without loss."""

from __future__ import annotations

import logging
import signal
import threading

from services.gateway.bridge import Bridge, Topics
from services.gateway.guard import DeviceGuard
from services.gateway.metrics import GatewayMetrics
from services.gateway.mqtt import MqttIntake
from services.gateway.settings import GatewaySettings
from services.gateway.sink import KafkaSink, RecordSink, SinkError

log = logging.getLogger("services.gateway")


def run(settings: GatewaySettings, stop: threading.Event, sink: RecordSink | None = None) -> int:
    """Bridge until ``stop`` is set; return 0 after a clean drain, 1 if messages were left."""
    metrics = GatewayMetrics()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, settings.metrics_host)
    sink = sink or KafkaSink(settings.kafka, settings.client_id, settings.linger_ms)
    topics = Topics(settings.predictions_topic, settings.status_topic, settings.dlq_topic)
    guard = DeviceGuard(settings.device_rate_per_s, settings.device_burst, metrics.registry)
    bridge = Bridge(sink, topics, metrics, settings.client_id, settings.retry_backoff_s, guard)
    intake = MqttIntake(settings, bridge)
    metrics.connected.set_function(lambda: float(intake.connected.is_set()))
    drained = False
    try:
        intake.start()
        log.info("gateway %s running; metrics on :%s", settings.client_id, settings.metrics_port)
        while not stop.wait(1.0):
            if sink.fatal is not None:  # e.g. the idempotent producer was fenced
                log.error("stopping: the Kafka producer cannot continue (%s)", sink.fatal)
                break
        # Drain: stop taking new messages (those arriving now stay unacknowledged in our
        # persistent session and come back after a restart), wait for the accepted ones to
        # reach Kafka and be acknowledged, then disconnect.
        drained = bridge.drain(settings.drain_timeout_s)
        sink.flush(settings.drain_timeout_s)
    except SinkError as exc:
        log.error("flush at shutdown failed: %s", exc)
        drained = False
    finally:
        # Always release the producer: its I/O thread would otherwise keep the process alive.
        intake.stop()
        bridge.close()
        sink.close()
    log.info("gateway stopped (%s)", "drained" if drained else "drain timed out")
    return 0 if drained else 1


def main(settings: GatewaySettings) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return run(settings, stop)
