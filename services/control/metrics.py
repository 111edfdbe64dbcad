"""Prometheus metrics of the control API (served on its own port at ``/metrics``)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.control.commands import COMMANDS

# accepted: acknowledged by Kafka (202); invalid: 400; unauthorized: 401; unavailable: 503
OUTCOMES = ("accepted", "invalid", "unauthorized", "unavailable")
# webhook messages from Alertmanager: accepted (200), invalid (400), unauthorized (401)
ALERT_OUTCOMES = ("accepted", "invalid", "unauthorized")
LOGIN_OUTCOMES = ("ops", "read", "refused")  # page logins by the role granted


@dataclass(frozen=True)
class ControlMetrics:
    registry: CollectorRegistry
    commands: Counter  # requests by command and outcome
    ack_seconds: Histogram  # from handing a command to Kafka until acks=all
    alerts: Counter  # Alertmanager webhook messages by outcome
    logins: Counter  # page logins by outcome

    @classmethod
    def create(cls) -> ControlMetrics:
        r = CollectorRegistry()
        commands = Counter(
            "fleet_control_commands", "Ops command requests", ["command", "outcome"], registry=r
        )
        for command in COMMANDS:
            for outcome in OUTCOMES:
                commands.labels(command, outcome)  # export zeros, so rates exist from the start
        alerts = Counter(
            "fleet_control_alert_messages", "Alertmanager webhook messages", ["outcome"], registry=r
        )
        logins = Counter("fleet_control_logins", "Ops page logins", ["outcome"], registry=r)
        for outcome in ALERT_OUTCOMES:
            alerts.labels(outcome)
        for outcome in LOGIN_OUTCOMES:
            logins.labels(outcome)
        return cls(
            registry=r,
            alerts=alerts,
            logins=logins,
            commands=commands,
            ack_seconds=Histogram(
                "fleet_control_ack_seconds",
                "Time until ops.commands acknowledged a command",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
                registry=r,
            ),
        )
