"""Prometheus metrics of one gateway process (own registry, so tests can run several)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.received = Counter(
            "fleet_gateway_received_total", "MQTT messages received", ["kind"],
            registry=self.registry,
        )  # fmt: skip
        self.produced = Counter(
            "fleet_gateway_produced_total", "Records stored in Kafka", ["topic"],
            registry=self.registry,
        )  # fmt: skip
        self.dlq = Counter(
            "fleet_gateway_dlq_total", "Messages sent to the dead-letter topic", ["kind"],
            registry=self.registry,
        )  # fmt: skip
        self.in_flight = Gauge(
            "fleet_gateway_in_flight", "Messages received but not yet acknowledged",
            registry=self.registry,
        )  # fmt: skip
        self.produce_latency = Histogram(
            "fleet_gateway_produce_latency_seconds", "MQTT receive to Kafka acknowledgement",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )  # fmt: skip
        self.connected = Gauge(
            "fleet_gateway_connected", "1 while subscribed to the broker (readiness)",
            registry=self.registry,
        )  # fmt: skip
        self.errors = Counter(
            "fleet_gateway_errors_total", "Failures by kind (all retried)", ["kind"],
            registry=self.registry,
        )  # fmt: skip

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        """Serve ``/metrics`` on a daemon thread."""
        start_http_server(port, addr=host, registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """Current sample value, for tests and logs (0 when never set)."""
        got = self.registry.get_sample_value(name, labels or None)
        return 0.0 if got is None else got
