"""The gateway's frozen settings; built once in ``main()`` from the fleet settings and CLI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contract.mqtt import MqttAccess
from contract.topics import PREDICTIONS, STATUSES, TOPIC_NAMES, shared
from models.errors import ConfigError
from services.security.access import Access
from services.security.kafka import KafkaAccess


@dataclass(frozen=True)
class GatewaySettings:
    mqtt: MqttAccess  # the registry's "gateway" service account
    client_id: str  # stable per process: its persistent session survives restarts
    share_group: str  # $share/<group>/...: gateways of one group split the load
    kafka: KafkaAccess  # the "gateway" Kafka principal (writes predictions, status, dead letters)
    predictions_topic: str  # valid fleet/<id>/pred payloads go here, keyed by device id
    status_topic: str  # valid fleet/<id>/status payloads go here, keyed by device id
    dlq_topic: str  # everything invalid, as DlqRecord
    # MQTT Receive Maximum: unacked messages the broker may send us. Throughput is at most
    # this many messages per Kafka round trip (acks=all), so it is sized for ~100 ms of it.
    max_in_flight: int = 1000
    session_expiry_s: int = 3600  # broker keeps our queue this long while we are away
    keepalive_s: int = 30
    metrics_port: int = 19101  # /metrics for Prometheus; 0 = do not serve
    metrics_host: str = "127.0.0.1"  # /metrics bind address (0.0.0.0 in a container)
    drain_timeout_s: float = 30.0  # SIGTERM: wait this long for in-flight messages to land
    linger_ms: float = 5.0  # Kafka producer batching delay
    retry_backoff_s: float = 0.5  # before re-producing a record whose delivery failed
    # per-device token bucket (services/gateway/guard.py); over it -> DLQ. 0 turns it off.
    # A device classifies at most ~35 messages/s; the burst covers the edge agent's offline
    # buffer (1 000), which it flushes on reconnect.
    device_rate_per_s: float = 50.0
    device_burst: int = 2000

    def __post_init__(self) -> None:
        if not 1 <= self.max_in_flight <= 65535:
            raise ConfigError(f"max_in_flight must be in 1..65535, got {self.max_in_flight}")
        if self.session_expiry_s < 0:
            raise ConfigError(f"session_expiry_s must be >= 0, got {self.session_expiry_s}")
        if not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port must be in 0..65535, got {self.metrics_port}")
        if self.drain_timeout_s <= 0 or self.retry_backoff_s <= 0:
            raise ConfigError("drain_timeout_s and retry_backoff_s must be > 0")
        if self.device_rate_per_s < 0 or self.device_burst < 1:
            raise ConfigError("device_rate_per_s must be >= 0 (0 = off) and device_burst >= 1")
        if not self.client_id or "/" in self.client_id:
            raise ConfigError(f"client_id must be non-empty without '/', got {self.client_id!r}")

    @property
    def subscriptions(self) -> tuple[str, str]:
        return (
            shared(self.share_group, PREDICTIONS),
            shared(self.share_group, STATUSES),
        )

    @classmethod
    def from_fleet(
        cls, access: Access, client_id: str = "gateway-1", **overrides: Any
    ) -> GatewaySettings:
        """Defaults from the fleet settings and the registry's ``gateway`` account;
        ``mqtt_host`` / ``mqtt_port`` / ``kafka_bootstrap`` overrides move its accounts to
        other addresses."""
        fleet = access.fleet
        where = {k: overrides.pop(f"mqtt_{k}", None) for k in ("host", "port")}
        mqtt = access.mqtt("gateway")
        kafka = access.kafka_for("gateway")
        bootstrap = overrides.pop("kafka_bootstrap", None)
        values: dict[str, Any] = {
            "mqtt": mqtt.model_copy(update={k: v for k, v in where.items() if v is not None}),
            "client_id": client_id,
            "share_group": "gateway",
            "kafka": kafka.model_copy(update={"bootstrap": bootstrap}) if bootstrap else kafka,
            "predictions_topic": TOPIC_NAMES["predictions"],
            "status_topic": TOPIC_NAMES["device_status"],
            "dlq_topic": TOPIC_NAMES["predictions_dlq"],
            "metrics_port": fleet.metrics_ports.gateway,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)
