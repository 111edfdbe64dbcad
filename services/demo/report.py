"""What the demo reports: records counted in Kafka (the ground truth), and the services'
metrics as Prometheus scraped them, read with PromQL (the real monitoring path)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.schemas import PredictionEvent
from services.demo.gold import Tally, live_accuracy, teacher_accuracy
from services.errors import ServiceError
from services.promql import Prometheus
from services.security.kafka import KafkaAccess

DRIFT_FEATURES = ("class_mix", "confidence")
DRIFT_STATISTICS = ("psi", "js_distance")


class KafkaTail:
    """Remembers the end offsets of some topics, later reads everything written since."""

    def __init__(self, kafka: KafkaAccess, topics: list[str]) -> None:
        from kafka import TopicPartition

        # (no CRC check: kafka-python computes CRC-32C in pure Python, byte by byte, which
        # made reading back a busy shared topic take minutes; the broker checked them)
        self.consumer = kafka.consumer(enable_auto_commit=False, check_crcs=False)
        existing = self.consumer.topics()  # (asking for a missing topic's partitions creates it)
        self.partitions = [
            TopicPartition(topic, p)
            for topic in topics
            if topic in existing
            for p in sorted(self.consumer.partitions_for_topic(topic) or [])
        ]
        self.start = self.consumer.end_offsets(self.partitions)

    def read(self, timeout_s: float = 30) -> dict[str, list[bytes]]:
        """Values per topic written since construction, up to the current end offsets."""
        ends = self.consumer.end_offsets(self.partitions)
        self.consumer.assign(self.partitions)
        for tp in self.partitions:
            self.consumer.seek(tp, self.start[tp])
        out: dict[str, list[bytes]] = {tp.topic: [] for tp in self.partitions}
        deadline = time.monotonic() + timeout_s  # moves on while records arrive: other tools
        # writing to the same topics meanwhile can make the read long, not stuck
        while any(self.consumer.position(tp) < ends[tp] for tp in self.partitions):
            if time.monotonic() > deadline:
                raise ServiceError(
                    f"reading the demo's records back made no progress for {timeout_s:.0f} s"
                )
            for tp, records in self.consumer.poll(timeout_ms=500, max_records=5000).items():
                out[tp.topic] += [r.value for r in records if r.offset < ends[tp] and r.value]
                deadline = time.monotonic() + timeout_s
        return out

    def close(self) -> None:
        self.consumer.close()


@dataclass
class KafkaCounts:
    predictions: int = 0  # records of this run in fleet.predictions (with redeliveries)
    unique_predictions: int = 0  # distinct message ids among them
    by_phase: dict[int, int] = field(default_factory=dict)  # distinct ids per traffic phase
    by_version: dict[int, int] = field(default_factory=dict)  # distinct ids per model version
    phase2_by_version: dict[int, int] = field(default_factory=dict)  # ... of phase-2 traffic
    last_version: dict[str, int] = field(default_factory=dict)  # device -> of its last one
    dlq: int = 0  # dead letters written during the run
    dlq_reasons: list[str] = field(default_factory=list)
    label_requests: int = 0  # distinct message ids of this run sent for labeling
    requests_by_phase: dict[int, int] = field(default_factory=dict)
    labeled: int = 0  # distinct labeled samples of this run's messages
    teacher_ids: list[str] = field(default_factory=list)
    disagreement_by_phase: dict[int, float] = field(default_factory=dict)  # teacher != device
    teacher_labels: dict[str, int] = field(default_factory=dict)
    with_entities: int = 0  # distinct predictions (event v2) that carry at least one entity
    entity_samples: list[str] = field(default_factory=list)  # a few, as printed by the demo
    gold_live: dict[tuple[int, int], Tally] = field(default_factory=dict)  # (phase, version)
    teacher_gold: dict[int, Tally] = field(default_factory=dict)  # phase: teacher vs gold


ENTITY_SAMPLES = 4  # predictions with entities the summary prints


def entity_sample(event: PredictionEvent) -> str | None:
    """One line for a prediction with entities (schema v2): its text, label and each entity's
    type and surface text; None for a prediction without."""
    entities = getattr(event, "entities", None)
    if not entities:
        return None
    found = ", ".join(f"{e.type} [{e.start}:{e.end}] {e.text!r}" for e in entities)
    return f"v{event.model_version} {event.device_id}: {event.text!r} -> {event.label}; {found}"


def count_records(
    records: dict[str, list[bytes]],
    topics: dict[str, str],
    mine: Callable[[PredictionEvent], bool],
    switch_ts: float,
    phase_of: Callable[[float], int] | None = None,
    gold: dict[str, str] | None = None,
) -> KafkaCounts:
    """Count this run's records (predictions for which ``mine`` holds, and the requests and
    labels of those); ``topics`` maps predictions/dlq/requests/labeled to topic names. A
    prediction's phase is 0 before ``switch_ts`` and 2 after, or ``phase_of`` its timestamp;
    with ``gold`` (text -> label) the predictions and the teacher's labels are scored."""
    from contract.schemas import parse_label_request, parse_labeled_sample, parse_prediction
    from contract.schemas.dlq import parse_dlq_record

    def phase(ts: float) -> int:
        if phase_of is not None:
            return phase_of(ts)
        return 0 if ts < switch_ts else 2

    counts = KafkaCounts()
    device_label, device_phase, device_version = {}, {}, {}
    scored: dict[str, tuple[str, int, str, float]] = {}  # id -> (text, version, label, ts)
    last_ts: dict[str, float] = {}
    tagged: set[str] = set()
    for raw in records[topics["predictions"]]:
        event = parse_prediction(raw)
        if mine(event):
            counts.predictions += 1
            line = entity_sample(event)
            if line is not None and event.message_id not in tagged:
                tagged.add(event.message_id)
                if len(counts.entity_samples) < ENTITY_SAMPLES:
                    counts.entity_samples.append(line)
            device_label[event.message_id] = event.label
            device_phase[event.message_id] = phase(event.ts)
            device_version[event.message_id] = event.model_version
            scored[event.message_id] = (event.text, event.model_version, event.label, event.ts)
            if event.ts >= last_ts.get(event.device_id, 0.0):
                last_ts[event.device_id] = event.ts
                counts.last_version[event.device_id] = event.model_version
    counts.unique_predictions = len(device_label)
    counts.with_entities = len(tagged)
    counts.by_phase = dict(Counter(device_phase.values()))
    counts.by_version = dict(Counter(device_version.values()))
    counts.phase2_by_version = dict(  # (the drift traffic: every phase after 0)
        Counter(v for m, v in device_version.items() if device_phase[m] > 0)
    )
    dlq = [parse_dlq_record(raw) for raw in records[topics["dlq"]]]
    counts.dlq, counts.dlq_reasons = len(dlq), [d.reason for d in dlq]
    requested = {}
    for raw in records[topics["requests"]]:
        request = parse_label_request(raw)
        if request.message_id in device_label:
            requested[request.message_id] = device_phase[request.message_id]
    counts.label_requests = len(requested)
    counts.requests_by_phase = dict(Counter(requested.values()))
    labeled = {}
    for raw in records[topics["labeled"]]:
        sample = parse_labeled_sample(raw)
        if sample.message_id in device_label:
            labeled[sample.message_id] = sample
    counts.labeled = len(labeled)
    counts.teacher_ids = sorted({s.teacher_id for s in labeled.values()})
    counts.teacher_labels = dict(Counter(s.label for s in labeled.values()).most_common())
    for p in sorted(set(device_phase.values())):
        ids = [m for m in labeled if device_phase.get(m) == p]
        if ids:
            differ = sum(labeled[m].label != device_label[m] for m in ids)
            counts.disagreement_by_phase[p] = differ / len(ids)
    if gold is not None:
        when = {m: ts for m, (_, _, _, ts) in scored.items()}
        counts.gold_live = live_accuracy(scored.values(), gold, phase)
        counts.teacher_gold = teacher_accuracy(
            ((s.text, s.label, when[m]) for m, s in labeled.items()), gold, phase
        )
    return counts


@dataclass
class DriftWindowStats:
    mean: float
    max: float
    windows: int  # samples seen (each closed window is scraped about window/scrape times)


def drift_between(
    prom: Prometheus, version: int, start: float, end: float
) -> dict[tuple[str, str], DriftWindowStats]:
    """Mean and max of each drift statistic's samples in (start, end], for one release."""
    span = f"{max(int(end - start), 1)}s"
    out = {}
    for feature in DRIFT_FEATURES:
        for statistic in DRIFT_STATISTICS:
            selector = (
                f'fleet_processor_drift{{model_version="{version}",feature="{feature}",'
                f'statistic="{statistic}"}}'
            )
            mean = prom.scalar(f"max(avg_over_time({selector}[{span}]))", at=end)
            top = prom.scalar(f"max(max_over_time({selector}[{span}]))", at=end)
            n = prom.scalar(f"max(count_over_time({selector}[{span}]))", at=end)
            if mean is not None and top is not None:
                out[(feature, statistic)] = DriftWindowStats(mean, top, int(n or 0))
    return out


def service_counters(prom: Prometheus, versions: list[int]) -> dict[str, float | None]:
    """The services' own counters, now (each service started fresh for this run); processor
    counts over the run's releases (the first one and each new one)."""
    v = 'model_version=~"{}"'.format("|".join(str(n) for n in versions))
    exprs = {
        "gateway received": 'sum(fleet_gateway_received_total{kind="pred"})',
        "gateway produced": "sum(fleet_gateway_produced_total)",
        "gateway dead-lettered": "sum(fleet_gateway_dlq_total)",
        "processor events": f"sum(fleet_processor_events_total{{{v}}})",
        "processor duplicates dropped": "sum(fleet_processor_duplicates_total)",
        "processor windows closed": f"sum(fleet_processor_windows_closed_total{{{v}}})",
        "processor label requests": f"sum(fleet_processor_label_requests_total{{{v}}})",
        "labeler labels": "sum(fleet_labeler_labels_total)",
        "labeler backlog": "sum(fleet_labeler_backlog)",
        "distiller samples stored": "sum(fleet_distiller_samples)",
        "distiller cycles published": 'sum(fleet_distiller_retrains_total{outcome="published"})',
        "distiller cycles rejected": 'sum(fleet_distiller_retrains_total{outcome!="published"})',
        "rollout releases accepted": 'sum(fleet_rollout_releases_total{result="accepted"})',
        "rollout halts": "sum(fleet_rollout_halts_total)",
        "rollout chunks served": "sum(fleet_rollout_chunks_served)",
        "control commands accepted": 'sum(fleet_control_commands_total{outcome="accepted"})',
    }
    return {name: prom.scalar(expr) for name, expr in exprs.items()}


def low_confidence(prom: Prometheus, version: int, start: float, end: float) -> float | None:
    """Mean low-confidence share of one release's windows whose gauge samples fall in
    (start, end]."""
    ratio = f'fleet_processor_window_low_confidence_ratio{{model_version="{version}"}}'
    return prom.scalar(f"max(avg_over_time({ratio}[{max(int(end - start), 1)}s]))", at=end)
