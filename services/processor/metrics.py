"""Prometheus metrics of the processor, on their own registry (plus faust's sensors).

Labels are model version, class, feature and statistic; never the device id, whose
cardinality is the fleet size.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.processor.admission import DROP_REASONS

PREFIX = "fleet_processor"
# On-device latency: the STM32F405 takes ~35 ms (16 tokens) to ~140 ms (64 tokens) per message.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0, 2.0)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


@dataclass(frozen=True)
class ProcessorMetrics:
    registry: CollectorRegistry
    events: Counter  # unique predictions, by model version
    duplicates: Counter  # predictions dropped because their message id was seen
    invalid: Counter  # records that do not parse (the gateway should have sent them to DLQ)
    late: Counter  # predictions for a window already closed
    predictions: Counter  # by model version and predicted class
    low_confidence: Counter  # predictions under the low-confidence threshold
    confidence: Histogram  # device-reported confidence, by model version
    device_latency: Histogram  # device-reported inference latency, by model version
    windows_closed: Counter
    windows_without_reference: Counter  # closed before the release's profile was known
    window_events: Gauge  # events in the last closed window
    window_low_confidence_ratio: Gauge
    drift: Gauge  # last closed window vs the release's reference profile
    label_requests: Counter  # sent to the teacher, by model version and strategy
    releases_known: Gauge  # reference profiles loaded from model.releases
    worker_ready: Gauge  # 1 once the faust worker recovered its tables and started streaming
    reseeks: Counter  # partitions sought back to refetch records the consumer skipped
    dropped: Counter  # valid predictions not counted: unknown release or label (admission.py)
    tagged: Counter  # predictions of models with an entity tagging head (v2 events)
    with_entities: Counter  # of those, predictions that found at least one entity
    entities: Counter  # entities found, by model version and entity type

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> ProcessorMetrics:
        r = registry if registry is not None else CollectorRegistry()
        v = ["model_version"]
        metrics = cls(
            registry=r,
            events=Counter(f"{PREFIX}_events", "Unique prediction events", v, registry=r),
            duplicates=Counter(
                f"{PREFIX}_duplicates", "Events dropped as duplicate message ids", registry=r
            ),
            invalid=Counter(f"{PREFIX}_invalid", "Records that failed validation", registry=r),
            late=Counter(
                f"{PREFIX}_late_events", "Events for an already closed window", v, registry=r
            ),
            predictions=Counter(
                f"{PREFIX}_predictions", "Predicted class counts", [*v, "label"], registry=r
            ),
            low_confidence=Counter(
                f"{PREFIX}_low_confidence", "Events under the confidence threshold", v, registry=r
            ),
            confidence=Histogram(
                f"{PREFIX}_confidence",
                "Reported confidence",
                v,
                buckets=CONFIDENCE_BUCKETS,
                registry=r,
            ),
            device_latency=Histogram(
                f"{PREFIX}_device_latency_seconds",
                "On-device inference latency",
                v,
                buckets=LATENCY_BUCKETS_S,
                registry=r,
            ),
            windows_closed=Counter(f"{PREFIX}_windows_closed", "Windows closed", v, registry=r),
            windows_without_reference=Counter(
                f"{PREFIX}_windows_without_reference",
                "Windows closed without a reference profile",
                v,
                registry=r,
            ),
            window_events=Gauge(
                f"{PREFIX}_window_events", "Events in the last closed window", v, registry=r
            ),
            window_low_confidence_ratio=Gauge(
                f"{PREFIX}_window_low_confidence_ratio",
                "Share of low-confidence events in the last closed window",
                v,
                registry=r,
            ),
            drift=Gauge(
                f"{PREFIX}_drift",
                "Drift of the last closed window against the reference profile",
                [*v, "feature", "statistic"],
                registry=r,
            ),
            label_requests=Counter(
                f"{PREFIX}_label_requests", "Label requests sent", [*v, "strategy"], registry=r
            ),
            releases_known=Gauge(
                f"{PREFIX}_releases_known", "Reference profiles loaded", registry=r
            ),
            worker_ready=Gauge(
                f"{PREFIX}_worker_ready", "1 once tables are recovered and streams run", registry=r
            ),
            reseeks=Counter(
                f"{PREFIX}_consumer_reseeks",
                "Seeks back to the committed offset to refetch skipped records",
                ["topic"],
                registry=r,
            ),
            dropped=Counter(
                f"{PREFIX}_dropped",
                "Predictions not counted: not a known release or not its label set",
                ["reason"],
                registry=r,
            ),
            tagged=Counter(
                f"{PREFIX}_tagged_predictions",
                "Predictions of a model with an entity tagging head",
                v,
                registry=r,
            ),
            with_entities=Counter(
                f"{PREFIX}_predictions_with_entities",
                "Predictions that carry at least one entity",
                v,
                registry=r,
            ),
            entities=Counter(
                f"{PREFIX}_entities", "Entities found on devices", [*v, "entity_type"], registry=r
            ),
        )
        for reason in DROP_REASONS:  # every series exists from the start for increase()
            metrics.dropped.labels(reason)
        return metrics
