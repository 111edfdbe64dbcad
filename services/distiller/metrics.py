"""Prometheus metrics of the distiller, on their own registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.distiller.triggers import Reason

PREFIX = "fleet_distiller"
OUTCOMES = ("published", "rejected_by_gate", "failed")
SKIP_REASONS = ("duplicate", "invalid")
COMMAND_OUTCOMES = ("accepted", "duplicate", "ignored", "invalid")


@dataclass(frozen=True)
class DistillerMetrics:
    registry: CollectorRegistry
    samples_stored: Counter  # new labeled samples written to the store
    samples_skipped: Counter  # records not stored, by reason (duplicate, invalid)
    samples_total: Gauge  # samples in the store
    new_samples: Gauge  # samples since the last completed cycle
    commands: Counter  # ops commands, by outcome (accepted, duplicate, ignored, invalid)
    retrains: Counter  # cycles, by trigger and outcome
    cycle_seconds: Histogram  # wall time of a cycle
    gate: Gauge  # last gate scores, by metric
    last_published_version: Gauge
    current_version: Gauge  # newest release in the store
    drift: Gauge  # last drift value read for the current release (NaN when unknown)
    drift_errors: Counter  # failed drift queries
    publish_failures: Counter  # manifests stored but not acknowledged yet

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> DistillerMetrics:
        r = registry if registry is not None else CollectorRegistry()
        metrics = cls(
            registry=r,
            samples_stored=Counter(f"{PREFIX}_samples_stored", "New samples stored", registry=r),
            samples_skipped=Counter(
                f"{PREFIX}_samples_skipped", "Records not stored", ["reason"], registry=r
            ),
            samples_total=Gauge(f"{PREFIX}_samples", "Samples in the store", registry=r),
            new_samples=Gauge(
                f"{PREFIX}_new_samples", "Samples since the last completed cycle", registry=r
            ),
            commands=Counter(f"{PREFIX}_commands", "Ops commands read", ["outcome"], registry=r),
            retrains=Counter(
                f"{PREFIX}_retrains", "Retrain cycles", ["trigger", "outcome"], registry=r
            ),
            cycle_seconds=Histogram(
                f"{PREFIX}_cycle_seconds",
                "Wall time of a retrain cycle",
                buckets=(1, 5, 10, 30, 60, 120, 300, 600, 1200, 3600),
                registry=r,
            ),
            gate=Gauge(f"{PREFIX}_gate", "Scores of the last gate", ["metric"], registry=r),
            last_published_version=Gauge(
                f"{PREFIX}_last_published_version", "Newest release published", registry=r
            ),
            current_version=Gauge(
                f"{PREFIX}_current_version", "Newest release in the store", registry=r
            ),
            drift=Gauge(f"{PREFIX}_drift", "Last drift of the current release", registry=r),
            drift_errors=Counter(f"{PREFIX}_drift_errors", "Failed drift queries", registry=r),
            publish_failures=Counter(
                f"{PREFIX}_publish_failures", "Manifests not acknowledged by Kafka", registry=r
            ),
        )
        # every labeled series exists from the start, so increase() sees the first event
        for trigger in get_args(Reason):
            for outcome in OUTCOMES:
                metrics.retrains.labels(trigger, outcome)
        for reason in SKIP_REASONS:
            metrics.samples_skipped.labels(reason)
        for outcome in COMMAND_OUTCOMES:
            metrics.commands.labels(outcome)
        return metrics
