"""Prometheus metrics of the rollout manager (port 19105)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from contract.schemas.rollout import RolloutRecord, RolloutStatus
from services.rollout.machine import counts

STATUSES: tuple[RolloutStatus, ...] = (
    "pending", "in_progress", "completed", "halted", "rolled_back", "superseded",
)  # fmt: skip
HALT_CAUSES = ("failures", "timeout", "ops")
RELEASE_RESULTS = ("accepted", "duplicate", "refused")
OPS_COMMANDS = ("rollout", "halt", "rollback", "redistill")
COMMAND_RESULTS = ("applied", "duplicate", "refused", "stale")


@dataclass(frozen=True)
class RolloutMetrics:
    registry: CollectorRegistry
    stage: Gauge  # current stage index per version; = number of stages once completed
    status: Gauge  # 1 for the version's current status, 0 for the others
    devices: Gauge  # devices per version, group and outcome (confirmed/reverted/rejected/total)
    halts: Counter  # halts by cause: failures, timeout, ops
    rollbacks: Counter  # roll-forward releases built
    releases: Counter  # model.releases inputs by result: accepted, duplicate, refused
    commands: Counter  # ops commands by command and result
    chunks_served: Gauge  # OTA chunks answered (the chunk server's running count)
    manifests: Counter  # retained manifests published per group (cleared ones too)
    devices_seen: Gauge  # registered devices that reported within active_window_s
    poison: Counter  # input records skipped because handling them failed, by topic

    @classmethod
    def create(cls) -> RolloutMetrics:
        registry = CollectorRegistry()
        metrics = cls(
            registry=registry,
            stage=Gauge("fleet_rollout_stage", "Current stage index of a release's rollout",
                        ["version"], registry=registry),
            status=Gauge("fleet_rollout_status", "1 for the rollout's current status",
                         ["version", "status"], registry=registry),
            devices=Gauge("fleet_rollout_devices", "Devices per release, group and outcome",
                          ["version", "group", "outcome"], registry=registry),
            halts=Counter("fleet_rollout_halts", "Rollouts halted, by cause", ["cause"],
                          registry=registry),
            rollbacks=Counter("fleet_rollout_rollbacks", "Roll-forward releases built",
                              registry=registry),
            releases=Counter("fleet_rollout_releases", "Release manifests received, by result",
                             ["result"], registry=registry),
            commands=Counter("fleet_rollout_commands", "Ops commands, by command and result",
                             ["command", "result"], registry=registry),
            chunks_served=Gauge("fleet_rollout_chunks_served", "OTA chunks served",
                                registry=registry),
            manifests=Counter("fleet_rollout_manifests_published",
                              "Retained group manifests published", ["group"],
                              registry=registry),
            devices_seen=Gauge("fleet_rollout_devices_seen",
                               "Registered devices that reported recently", registry=registry),
            poison=Counter("fleet_rollout_poison_records",
                           "Input records skipped because handling them failed", ["topic"],
                           registry=registry),
        )  # fmt: skip
        # every labeled series exists from the start, so increase() sees the first event
        for cause in HALT_CAUSES:
            metrics.halts.labels(cause)
        for result in RELEASE_RESULTS:
            metrics.releases.labels(result)
        for command in OPS_COMMANDS:
            for result in COMMAND_RESULTS:
                metrics.commands.labels(command, result)
        return metrics

    def record(self, record: RolloutRecord) -> None:
        version = str(record.version)
        self.stage.labels(version).set(record.stage)
        for status in STATUSES:
            self.status.labels(version, status).set(1 if record.status == status else 0)
        for stage in record.stages:
            population, confirmed, _ = counts(stage)
            outcomes = list(stage.outcomes.values())
            self.devices.labels(version, stage.group, "total").set(population)
            self.devices.labels(version, stage.group, "confirmed").set(confirmed)
            for outcome in ("reverted", "rejected"):
                self.devices.labels(version, stage.group, outcome).set(outcomes.count(outcome))

    def serve(self, port: int, host: str) -> None:
        start_http_server(port, host, registry=self.registry)
