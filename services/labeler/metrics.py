"""Prometheus metrics of the labeler (port 19103, own registry)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

FAILURE_STAGES = ("teacher", "outage", "produce")


@dataclass(frozen=True)
class LabelerMetrics:
    registry: CollectorRegistry
    labels: Counter  # samples produced (rate = labels per second)
    skipped: Counter  # requests not labeled, by reason (duplicate, invalid)
    # teacher: a request's failed try; outage: a batch the teacher was unreachable for;
    # produce: a batch whose records Kafka did not acknowledge
    failures: Counter
    dead_letters: Counter  # requests given up after max_attempts, to the labeling DLQ
    backlog: Gauge  # requests in the topic not yet committed by this group
    batch_seconds: Histogram  # teacher time per batch
    seen: Gauge  # message ids known to be labeled

    @classmethod
    def create(cls) -> LabelerMetrics:
        r = CollectorRegistry()
        metrics = cls(
            registry=r,
            labels=Counter("fleet_labeler_labels", "Samples labeled", ["teacher_id"], registry=r),
            skipped=Counter("fleet_labeler_skipped", "Requests skipped", ["reason"], registry=r),
            failures=Counter(
                "fleet_labeler_failures", "Failed tries, by stage", ["stage"], registry=r
            ),
            dead_letters=Counter(
                "fleet_labeler_dead_letters", "Requests dead-lettered after their tries", registry=r
            ),
            backlog=Gauge(
                "fleet_labeler_backlog", "Requests waiting (end - committed)", registry=r
            ),
            batch_seconds=Histogram(
                "fleet_labeler_batch_seconds",
                "Teacher inference time per batch",
                buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
                registry=r,
            ),
            seen=Gauge("fleet_labeler_seen_ids", "Message ids already labeled", registry=r),
        )
        for stage in FAILURE_STAGES:  # every series exists from the start for increase()
            metrics.failures.labels(stage)
        return metrics
