"""The operator's facts in one object: the stack's components, the fleet by release and group,
drift per release with its trend, the label pipeline, the distiller's last cycle and gate, the
active rollout, and the alerts. ``fleet status`` prints it, the ops page renders it.

Each part is gathered on its own: a source that cannot be reached leaves that part empty with
an ``error`` saying which source and why, and the other parts are still filled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from contract.schemas.rollout import RolloutRecord
from models.errors import ConfigError
from services.errors import ServiceError
from services.promql import Prometheus

TREND_WINDOW_S = 1800.0  # the one-line trend covers the last 30 minutes
TREND_POINTS = 20
SPARK = "▁▂▃▄▅▆▇█"
DEVICES = "max by (version, group, outcome) (fleet_rollout_devices) > 0"


@dataclass
class Part:
    error: str | None = None  # why this part is empty: the source and its answer


P = TypeVar("P", bound="Part")


@dataclass
class Components(Part):
    rows: list[dict[str, Any]] = field(default_factory=list)  # name, state, pid, ports, detail


@dataclass
class Fleet(Part):
    devices_seen: float | None = None  # registered devices that reported recently
    # version, group, outcome (confirmed/reverted/rejected), devices (rollout manager's view)
    rows: list[dict[str, Any]] = field(default_factory=list)
    events_per_s: dict[str, float] = field(default_factory=dict)  # model_version -> rate


@dataclass
class Drift(Part):
    # model_version, class_mix_psi, confidence_psi, low_confidence, trend (class-mix PSI)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Labeling(Part):
    requests_per_s: float | None = None  # label requests the processor sends
    labeled_per_s: float | None = None  # labels the teacher produces
    labeled_1h: float | None = None
    backlog: float | None = None  # requests not labeled yet


@dataclass
class Distiller(Part):
    samples: float | None = None
    new_samples: float | None = None
    cycles: dict[str, float] = field(default_factory=dict)  # outcome -> count (process life)
    gate: dict[str, float] = field(default_factory=dict)  # last gate's scores
    last_published: float | None = None
    current: float | None = None


@dataclass
class Rollout(Part):
    version: int | None = None
    kind: str = ""
    status: str = ""
    stage: str = ""  # the current stage's group ("" when done)
    stages: list[dict[str, Any]] = field(default_factory=list)  # group, status, counts, times
    history: list[dict[str, Any]] = field(default_factory=list)  # ts, event, detail
    updated_at: float | None = None


@dataclass
class Alerts(Part):
    source: str = ""  # where they came from (the control API's webhook, or Alertmanager)
    rows: list[dict[str, Any]] = field(default_factory=list)  # name, state, labels, since, ...


@dataclass
class StatusReport:
    at: float
    components: Components
    fleet: Fleet
    drift: Drift
    labeling: Labeling
    distiller: Distiller
    rollout: Rollout
    alerts: Alerts

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def errors(self) -> dict[str, str]:
        return {
            name: part.error
            for name, part in vars(self).items()
            if isinstance(part, Part) and part.error
        }


def sparkline(values: list[float]) -> str:
    """``▁▃█``: one character per value, scaled between the smallest and the largest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low
    return "".join(
        SPARK[0] if span <= 0 else SPARK[round((v - low) / span * (len(SPARK) - 1))] for v in values
    )


def _guard(make: Callable[[], P], empty: P) -> P:
    try:
        return make()
    except (ServiceError, ConfigError) as exc:
        empty.error = str(exc)
        return empty


def components_part(status: Callable[[], list[Any]]) -> Components:
    def make() -> Components:
        rows = [
            {"name": s.name, "state": s.state, "pid": s.pid, "ports": s.ports, "detail": s.detail}
            for s in status()
        ]
        return Components(rows=rows)

    return _guard(make, Components())


def _by(prom: Prometheus, expr: str, label: str) -> dict[str, float]:
    return {labels.get(label, ""): value for labels, value in prom.query(expr)}


def fleet_part(prom: Prometheus) -> Fleet:
    def make() -> Fleet:
        rows = [
            {
                "version": int(labels.get("version", "0") or 0),
                "group": labels.get("group", ""),
                "outcome": labels.get("outcome", ""),
                "devices": value,
            }
            for labels, value in prom.query(DEVICES)
        ]
        rows.sort(key=lambda r: (-int(str(r["version"])), str(r["group"]), str(r["outcome"])))
        return Fleet(
            devices_seen=prom.scalar("max(fleet_rollout_devices_seen)"),
            rows=rows,
            events_per_s=_by(
                prom,
                "sum by (model_version) (rate(fleet_processor_events_total[1m])) > 0",
                "model_version",
            ),
        )

    return _guard(make, Fleet())


def drift_part(prom: Prometheus, now: float) -> Drift:
    def make() -> Drift:
        def per_version(expr: str) -> dict[str, float]:
            return _by(prom, f"max by (model_version) ({expr})", "model_version")

        psi = 'fleet_processor_drift{{feature="{}",statistic="psi"}}'
        class_mix = per_version(psi.format("class_mix"))
        confidence = per_version(psi.format("confidence"))
        low = per_version("fleet_processor_window_low_confidence_ratio")
        step = TREND_WINDOW_S / TREND_POINTS
        trend = {
            s.labels.get("model_version", ""): [v for _, v in s.points]
            for s in prom.query_range(
                f"max by (model_version) ({psi.format('class_mix')})",
                now - TREND_WINDOW_S,
                now,
                step,
            )
        }
        versions = sorted(set(class_mix) | set(confidence) | set(low), key=_version_key)
        rows = [
            {
                "model_version": v,
                "class_mix_psi": class_mix.get(v),
                "confidence_psi": confidence.get(v),
                "low_confidence": low.get(v),
                "trend": sparkline(trend.get(v, [])),
            }
            for v in reversed(versions)
        ]
        return Drift(rows=rows)

    return _guard(make, Drift())


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (-1, version)


def labeling_part(prom: Prometheus) -> Labeling:
    def make() -> Labeling:
        return Labeling(
            requests_per_s=prom.scalar("sum(rate(fleet_processor_label_requests_total[5m]))"),
            labeled_per_s=prom.scalar("sum(rate(fleet_labeler_labels_total[5m]))"),
            labeled_1h=prom.scalar("sum(increase(fleet_labeler_labels_total[1h]))"),
            backlog=prom.scalar("sum(fleet_labeler_backlog)"),
        )

    return _guard(make, Labeling())


def distiller_part(prom: Prometheus) -> Distiller:
    def make() -> Distiller:
        return Distiller(
            samples=prom.scalar("max(fleet_distiller_samples)"),
            new_samples=prom.scalar("max(fleet_distiller_new_samples)"),
            cycles=_by(prom, "sum by (outcome) (fleet_distiller_retrains_total)", "outcome"),
            gate=_by(prom, "max by (metric) (fleet_distiller_gate)", "metric"),
            last_published=prom.scalar("max(fleet_distiller_last_published_version)"),
            current=prom.scalar("max(fleet_distiller_current_version)"),
        )

    return _guard(make, Distiller())


def rollout_part(records: Callable[[], list[RolloutRecord]]) -> Rollout:
    """The rollout in progress, else the most recently updated one."""

    def make() -> Rollout:
        latest: dict[int, RolloutRecord] = {}
        for record in records():
            latest[record.version] = record
        if not latest:
            return Rollout()
        active = [r for r in latest.values() if r.status in ("pending", "in_progress")]
        record = max(active or latest.values(), key=lambda r: (r.updated_at, r.version))
        stages = []
        for stage in record.stages:
            counts: dict[str, int] = {}
            for outcome in stage.outcomes.values():
                counts[outcome] = counts.get(outcome, 0) + 1
            stages.append(
                {
                    "group": stage.group,
                    "status": stage.status,
                    "population": len(stage.population),
                    "outcomes": counts,
                    "started_at": stage.started_at,
                    "met_at": stage.met_at,
                    "finished_at": stage.finished_at,
                    "bake_s": stage.criteria.bake_s,
                    "min_confirmed": stage.criteria.min_confirmed,
                }
            )
        current = record.stages[record.stage].group if record.stage < len(record.stages) else ""
        return Rollout(
            version=record.version,
            kind=record.kind,
            status=record.status,
            stage=current,
            stages=stages,
            history=[e.model_dump(mode="json") for e in record.history],
            updated_at=record.updated_at,
        )

    return _guard(make, Rollout())


def alerts_part(source: str, alerts: Callable[[], list[dict[str, Any]]]) -> Alerts:
    return _guard(lambda: Alerts(source=source, rows=alerts()), Alerts(source=source))


def collect(
    *,
    components: Callable[[], list[Any]],
    prometheus: Prometheus,
    rollouts: Callable[[], list[RolloutRecord]],
    alerts: Callable[[], list[dict[str, Any]]],
    alerts_source: str,
    now: float | None = None,
) -> StatusReport:
    """Every part, each from its own source; failures become the part's ``error``."""
    at = time.time() if now is None else now
    return StatusReport(
        at=at,
        components=components_part(components),
        fleet=fleet_part(prometheus),
        drift=drift_part(prometheus, at),
        labeling=labeling_part(prometheus),
        distiller=distiller_part(prometheus),
        rollout=rollout_part(rollouts),
        alerts=alerts_part(alerts_source, alerts),
    )
