"""What the processor does per event and per tick, on table-like mappings.

The faust app (``service.py``) passes its changelog-backed tables; unit tests pass dicts. All
writes for one window happen while handling a record of the window's own partition (its
events, or that partition's ticks), because faust sends a table write to the changelog
partition of the record being processed: closing a window from another partition's record
would leave its state behind in the changelog and resurrect it after a restart.

Tables (keys are strings, values JSON):
- ``seen``: "device/message id" -> [record ts, partition, offset]; another record with the same
  device and id is a duplicate and dropped; expired after ``dedup_ttl_s``. Ids are bound to
  their device: one device cannot pre-empt another's (predictable) ids.
- ``windows``: "version|start" -> :class:`WindowAggregate` JSON, while the window is open,
  including the highest offset it applied.
- ``pools``: "version|start|device" -> candidate list (best first, bounded per device);
  "version|start|device|random" -> the device's uniform candidates (``random`` strategy or a
  ``random_share`` of the budget), bounded the same way.
- ``closed``: "version|start" -> [closed at, partition]; late events for a closed window are
  counted and dropped instead of reopening it.

Crash consistency: faust flushes each table's changelog on its own, so after a SIGKILL the
``seen`` entry of a record can survive while the window write that counted it is lost, or
the reverse. The window aggregate is therefore the one record of truth for what it counted
(its ``last_offset``), and ``seen`` only tells a different record with the same id (a
duplicate) from the same record read again after a restart (a replay, by partition and
offset): a replay is applied exactly when its offset is above the window's ``last_offset``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

from contract.schemas import LabelRequest, PredictionEvent, Window
from services.processor import drift
from services.processor.metrics import ProcessorMetrics
from services.processor.releases import ReferenceStore
from services.processor.sampling import (
    WIRE_STRATEGY,
    Candidate,
    keep_best,
    pool_limit,
    random_score,
    select,
    uncertainty,
)
from services.processor.settings import ProcessorSettings
from services.processor.window import WindowAggregate, window_key, window_start

log = logging.getLogger(__name__)
Table = MutableMapping[str, Any]


def dedup_key(event: PredictionEvent) -> str:
    """``seen``'s key: the message id within its device ("/" is in neither)."""
    return f"{event.device_id}/{event.message_id}"


@dataclass(frozen=True)
class ClosedWindow:
    """What closing a window produced (for logs and tests)."""

    aggregate: WindowAggregate
    report: drift.DriftReport | None  # None when the release's profile is unknown
    requests: list[LabelRequest]


@dataclass
class Aggregator:
    settings: ProcessorSettings
    metrics: ProcessorMetrics
    references: ReferenceStore
    seen: Table
    windows: Table
    pools: Table
    closed: Table
    _last_cleanup: dict[int, float] = field(default_factory=dict)

    # -- per event ------------------------------------------------------------------------

    def on_prediction(
        self,
        event: PredictionEvent,
        ts: float,
        partition: int,
        offset: int | None = None,
        may_sample: bool = True,
    ) -> bool:
        """Count one prediction recorded at ``ts`` (at ``offset`` of ``partition`` of the
        re-keyed topic); False when it was a duplicate or a replay already counted. Without
        ``may_sample`` (its device's labeling budget is spent) it is not offered for labeling."""
        seen_key = dedup_key(event)
        prior = self.seen.get(seen_key)
        replay = prior is not None and offset is not None and list(prior[1:]) == [partition, offset]
        if prior is not None and not replay:
            self.metrics.duplicates.inc()
            return False
        version = str(event.model_version)
        start = window_start(ts, self.settings.window_s)
        key = window_key(event.model_version, start)
        raw = self.windows.get(key)
        if offset is not None and raw is not None and offset <= raw.get("last_offset", -1):
            # the window counted it before a restart; only ``seen`` may have been lost
            self.seen[seen_key] = [ts, partition, offset]
            self.metrics.duplicates.inc()
            return False
        if replay and key in self.closed:
            self.metrics.duplicates.inc()  # counted before its window closed
            return False
        self.seen[seen_key] = [ts, partition, -1 if offset is None else offset]
        low = event.confidence < self.settings.low_confidence
        # 1. fleet-wide counters and histograms
        self.metrics.events.labels(version).inc()
        self.metrics.predictions.labels(version, event.label).inc()
        self.metrics.confidence.labels(version).observe(event.confidence)
        self.metrics.device_latency.labels(version).observe(event.latency_us / 1e6)
        if low:
            self.metrics.low_confidence.labels(version).inc()
        entities = getattr(event, "entities", None)  # v2 events: the model tags entities
        if entities is not None:
            self.metrics.tagged.labels(version).inc()
            if entities:
                self.metrics.with_entities.labels(version).inc()
            for entity in entities:
                self.metrics.entities.labels(version, entity.type).inc()
        # 2. the event's window, unless it already closed
        if key in self.closed:
            self.metrics.late.labels(version).inc()
            return True
        aggregate = (
            WindowAggregate.from_json(raw)
            if raw is not None
            else WindowAggregate(
                event.model_version, start, start + self.settings.window_s, partition
            )
        )
        aggregate.add(event, low)
        if offset is not None:
            aggregate.last_offset = max(aggregate.last_offset, offset)
        # 3. low-confidence predictions join the device's bounded candidate pool (not once
        #    the device's labeling budget is spent); with the random strategy or a random
        #    share, every prediction joins its uniform pool, bounded per device and known
        #    release the same way (the budget counts low-confidence predictions only: gating
        #    on it would bias the uniform sample towards confident ones)
        strategy = self.settings.strategy
        pools: list[tuple[str, float]] = []
        if low and may_sample and strategy != "random":
            probs = [item.prob for item in event.topk]
            pools.append((f"{key}|{event.device_id}", uncertainty(strategy, probs)))
        if strategy == "random" or self.settings.random_share > 0:
            pools.append((f"{key}|{event.device_id}|random", random_score(event.message_id)))
        for pool_key, score in pools:
            candidate = Candidate(
                message_id=event.message_id,
                device_id=event.device_id,
                text=event.text,
                label=event.label,
                score=score,
            )
            pool = [Candidate.from_json(c) for c in self.pools.get(pool_key) or []]
            kept = keep_best([*pool, candidate], pool_limit(self.settings.per_device_cap))
            self.pools[pool_key] = [c.to_json() for c in kept]
        if pools:
            aggregate.note_candidate_device(event.device_id)
        self.windows[key] = aggregate.to_json()
        return True

    # -- per tick -------------------------------------------------------------------------

    def due(self, partition: int, now: float | None = None) -> list[ClosedWindow]:
        """This partition's windows whose end + grace has passed, evaluated but still open.

        Nothing changes until :meth:`finish`: the caller first delivers the label requests,
        so a crash in between closes the window again after the restart (the labeler
        ignores the repeated requests) instead of losing them.
        """
        now = time.time() if now is None else now
        ready = []
        for key, raw in list(self.windows.items()):
            if raw["partition"] != partition or raw["end"] + self.settings.grace_s > now:
                continue
            if key in self.closed:  # closed before a crash that lost only its deletion
                self.windows.pop(key, None)
                continue
            ready.append(WindowAggregate.from_json(raw))
        return [self._evaluate(aggregate) for aggregate in sorted(ready, key=lambda a: a.start)]

    def _evaluate(self, aggregate: WindowAggregate) -> ClosedWindow:
        key = aggregate.key
        # 1. drift against the release's reference profile
        profile = self.references.get(aggregate.model_version)
        report = None
        if profile is not None and aggregate.events:
            report = drift.drift_report(
                aggregate.class_counts,
                aggregate.fine_confidence(),
                profile.class_mix,
                profile.confidence.edges,
                profile.confidence.frequencies,
            )
        # 2. spend the labeling budget on the window's candidates: the uncertain ones, then
        #    the uniform control sample (all of it with the random strategy)
        s = self.settings
        uncertain: list[Candidate] = []
        uniform: list[Candidate] = []
        for device in aggregate.candidate_devices:
            uncertain += [Candidate.from_json(c) for c in self.pools.get(f"{key}|{device}") or []]
            uniform += [
                Candidate.from_json(c) for c in self.pools.get(f"{key}|{device}|random") or []
            ]
        n_random = (
            s.budget_per_window
            if s.strategy == "random"
            else round(s.budget_per_window * s.random_share)
        )
        chosen = select(uncertain, s.budget_per_window - n_random, s.per_device_cap)
        control = select(uniform, n_random, s.per_device_cap, taken=chosen)
        window = Window(start=aggregate.start, end=aggregate.end)
        requests = [
            LabelRequest(
                message_id=c.message_id,
                text=c.text,
                model_version=aggregate.model_version,
                device_id=c.device_id,
                strategy=wire,
                score=c.score,
                window=window,
            )
            for group, wire in ((chosen, WIRE_STRATEGY[s.strategy]), (control, "random"))
            for c in group
        ]
        return ClosedWindow(aggregate, report, requests)

    def finish(self, closed: ClosedWindow, now: float | None = None) -> None:
        """The window's requests are delivered: export its statistics and drop its state."""
        now = time.time() if now is None else now
        aggregate = closed.aggregate
        version = str(aggregate.model_version)
        key = aggregate.key
        # 1. gauges of the last closed window
        if closed.report is not None:
            for feature, values in closed.report.values.items():
                for statistic, value in values.items():
                    self.metrics.drift.labels(version, feature, statistic).set(value)
        elif self.references.get(aggregate.model_version) is None:
            self.metrics.windows_without_reference.labels(version).inc()
        self.metrics.windows_closed.labels(version).inc()
        self.metrics.window_events.labels(version).set(aggregate.events)
        self.metrics.window_low_confidence_ratio.labels(version).set(aggregate.low_confidence_ratio)
        for request in closed.requests:
            strategy = "random" if request.strategy == "random" else self.settings.strategy
            self.metrics.label_requests.labels(version, strategy).inc()
        # 2. remember it closed, forget its state
        self.closed[key] = [now, aggregate.partition]
        for device in aggregate.candidate_devices:
            self.pools.pop(f"{key}|{device}", None)
            self.pools.pop(f"{key}|{device}|random", None)
        self.windows.pop(key, None)
        log.info(
            "closed window %s: %d events, %d low-confidence, %d label requests",
            key,
            aggregate.events,
            aggregate.low_confidence,
            len(closed.requests),
        )

    def on_tick(self, partition: int, now: float | None = None) -> list[ClosedWindow]:
        """Close due windows without delivering anything (unit tests, benchmarks)."""
        now = time.time() if now is None else now
        closed = self.due(partition, now)
        for window in closed:
            self.finish(window, now)
        self.expire(partition, now)
        return closed

    def expire(self, partition: int, now: float | None = None) -> None:
        """Forget message ids and closed windows older than ``dedup_ttl_s`` (at most every
        ``cleanup_every_s`` per partition)."""
        now = time.time() if now is None else now
        if now - self._last_cleanup.get(partition, 0.0) < self.settings.cleanup_every_s:
            return
        self._last_cleanup[partition] = now
        self._expire(partition, now)

    def _expire(self, partition: int, now: float) -> None:
        horizon = now - self.settings.dedup_ttl_s
        for table in (self.seen, self.closed):
            stale = [k for k, v in list(table.items()) if v[1] == partition and v[0] < horizon]
            for k in stale:
                table.pop(k, None)
