"""librdkafka (``confluent-kafka``) client settings: the one place they are built.

The gateway's producer and the benchmarks' readers take their configuration from here, so a
setting every client needs (the address, SASL credentials and TLS of a
:class:`services.security.kafka.KafkaAccess`) is added once, in :func:`client_config`.
"""

from __future__ import annotations

from typing import Any

from services.security.kafka import KafkaAccess


def client_config(access: KafkaAccess, client_id: str, **overrides: Any) -> dict[str, Any]:
    """Settings shared by every librdkafka producer and consumer of the project."""
    config: dict[str, Any] = {
        **access.librdkafka(),
        "client.id": client_id,
        "reconnect.backoff.max.ms": 2_000,
        "socket.keepalive.enable": True,
    }
    config.update(overrides)
    return config


def durable_producer_config(
    access: KafkaAccess, client_id: str, linger_ms: float = 5, **overrides: Any
) -> dict[str, Any]:
    """A producer whose acknowledgement means stored by every in-sync replica, in order and
    without duplicates from its own retries (acks=all, idempotence)."""
    return client_config(
        access,
        client_id,
        **{
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": linger_ms,
            # no compression: kafka-python and aiokafka readers decode lz4/zstd/snappy only
            # with extra native packages; the records are small JSON on a local network
            "compression.type": "none",
            "batch.num.messages": 10_000,
            "message.timeout.ms": 30_000,  # then the delivery fails and the caller re-sends
            "request.timeout.ms": 15_000,
            **overrides,
        },
    )
