"""The distiller service: an ingest thread stores labeled samples and accepted ops commands,
and the main thread evaluates the triggers every tick and runs a cycle when one is due.

Ingest is idempotent by message id (the sample store ignores known ids) and at least once:
Kafka offsets are committed only after the store write returned (it is durable then); a
failed write seeks back and retries. A failing cycle is logged and counted, never fatal. A
release that was stored but whose manifest Kafka did not acknowledge is published again on
the next tick (and on start, when the store holds a release the topic does not).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from contract.errors import ValidationError
from contract.schemas import LabeledSample, Redistill, parse_labeled_sample, parse_ops_command
from services.distiller.cycle import CycleConfig, CycleError, CycleResult, ReplaySet, run_cycle
from services.distiller.metrics import DistillerMetrics
from services.distiller.samples import SampleStore, SampleStoreError
from services.distiller.settings import DistillerSettings
from services.distiller.triggers import DriftSource, Trigger, TriggerConfig, Triggers
from services.errors import ServiceError
from services.releases.announce import ReleaseAnnouncer
from services.releases.store import ReleaseStore
from services.security.kafka import required

log = logging.getLogger(__name__)


def trigger_config(s: DistillerSettings) -> TriggerConfig:
    return TriggerConfig(
        interval_s=s.interval_s,
        min_new_samples=s.min_new_samples,
        drift_threshold=s.drift_threshold,
        drift_poll_s=s.drift_poll_s,
        drift_cooldown_s=s.drift_cooldown_s,
        drift_min_new_samples=s.drift_min_new_samples,
    )


class DistillerService:
    def __init__(
        self,
        settings: DistillerSettings,
        samples: SampleStore,
        releases: ReleaseStore,
        replay: ReplaySet | None,
        key: Ed25519PrivateKey,
        publisher: ReleaseAnnouncer,
        drift: DriftSource | None,
        metrics: DistillerMetrics,
        clock: Callable[[], float] = time.monotonic,
        traffic: Callable[[], list[str]] | None = None,  # newest prediction texts (profile)
    ) -> None:
        self.settings, self.samples, self.releases = settings, samples, releases
        self.replay, self.key, self.publisher, self.metrics = replay, key, publisher, metrics
        self.clock, self.traffic = clock, traffic
        self.triggers = Triggers(trigger_config(settings), drift, clock())
        self.cycle_config = CycleConfig.from_settings(settings)
        self.unpublished: int | None = None  # stored release whose manifest awaits an ack
        self.stop_event = threading.Event()
        self._drift_errors_seen = 0
        self._refresh_gauges()

    # --- ingest -------------------------------------------------------------------------

    def ingest(self, labeled: Iterable[bytes], commands: Iterable[bytes]) -> None:
        """Parse and store one polled batch; raises :class:`SampleStoreError` when the store
        write failed (the caller must not commit the offsets then)."""
        valid: list[LabeledSample] = []
        for raw in labeled:
            try:
                valid.append(parse_labeled_sample(raw))
            except ValidationError as exc:
                self.metrics.samples_skipped.labels("invalid").inc()
                log.warning("skipping invalid labeled sample: %s", exc.reason)
        new = self.samples.add(valid) if valid else 0
        self.metrics.samples_stored.inc(new)
        self.metrics.samples_skipped.labels("duplicate").inc(len(valid) - new)
        for raw in commands:
            try:
                command = parse_ops_command(raw)
            except ValidationError as exc:
                self.metrics.commands.labels("invalid").inc()
                log.warning("skipping invalid ops command: %s", exc.reason)
                continue
            if not isinstance(command, Redistill):
                self.metrics.commands.labels("ignored").inc()  # the rollout manager's
                continue
            accepted = self.samples.add_command(command)
            self.metrics.commands.labels("accepted" if accepted else "duplicate").inc()
            if accepted:
                log.info("redistill %s from %s accepted", command.command_id, command.issued_by)
        self._refresh_gauges()

    def run_ingest(self, until_caught_up: bool = False, assign_timeout_s: float = 30.0) -> None:
        """Consume both input topics until stopped (or, with ``until_caught_up``, until the
        end offsets seen at the start are committed; when no partition was assigned within
        ``assign_timeout_s`` (no such topics), there is nothing to catch up with)."""
        from kafka.errors import KafkaError

        s = self.settings
        consumer = required(s.kafka, "the distiller").consumer(
            s.labeled_topic,
            s.ops_topic,
            group_id=s.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=500,
        )
        ends: dict[Any, int] | None = None
        deadline = time.monotonic() + assign_timeout_s
        try:
            while not self.stop_event.is_set():
                polled = consumer.poll(timeout_ms=s.poll_timeout_ms)
                if until_caught_up and ends is None:
                    if consumer.assignment():
                        ends = consumer.end_offsets(list(consumer.assignment()))
                    elif time.monotonic() > deadline:
                        log.warning(
                            "no partition of %s assigned; nothing ingested", s.labeled_topic
                        )
                        return
                if polled:
                    starts = {tp: records[0].offset for tp, records in polled.items() if records}
                    labeled = [r.value for tp, rs in polled.items()
                                if tp.topic == s.labeled_topic for r in rs]  # fmt: skip
                    commands = [r.value for tp, rs in polled.items()
                                if tp.topic == s.ops_topic for r in rs]  # fmt: skip
                    try:
                        self.ingest(labeled, commands)
                        consumer.commit()  # only now: the store has the batch
                    except (SampleStoreError, KafkaError) as exc:
                        log.warning("ingest failed (%s); retrying the batch", exc)
                        for tp, offset in starts.items():
                            consumer.seek(tp, offset)
                        self.stop_event.wait(2.0)
                        continue
                if ends is not None and all(consumer.position(tp) >= e for tp, e in ends.items()):
                    return
        finally:
            consumer.close(autocommit=False)

    # --- cycles -------------------------------------------------------------------------

    def run_cycle(self, trigger: Trigger | None = None) -> CycleResult | None:
        """One cycle now; counted by trigger and outcome. Returns None when it failed."""
        trigger = trigger or Trigger("manual")
        reason = trigger.reason
        started = time.perf_counter()
        try:
            result = run_cycle(
                self.cycle_config, self.samples, self.releases, self.replay, self.key,
                self.publisher, trigger=reason,
                max_steps=trigger.max_steps or self.settings.max_steps, traffic=self.traffic,
            )  # fmt: skip
        except Exception as exc:  # the service's outermost boundary: a cycle is never fatal
            if isinstance(exc, CycleError) and exc.stored_version is not None:
                self.unpublished = exc.stored_version
                self.metrics.publish_failures.inc()
            self.metrics.retrains.labels(reason, "failed").inc()
            if isinstance(exc, ServiceError):
                log.error("cycle (%s) failed: %s", reason, exc)
            else:  # not an anticipated failure: keep the traceback
                log.exception("cycle (%s) failed", reason)
            return None
        finally:
            self.metrics.cycle_seconds.observe(time.perf_counter() - started)
            if trigger.command is not None:
                self.samples.finish_command(trigger.command.command_id)
            self._refresh_gauges()
        self.metrics.retrains.labels(reason, result.outcome).inc()
        for name, value in result.metrics.items():
            if name.startswith("gate_"):
                self.metrics.gate.labels(name[5:]).set(value)
        if result.version is not None:
            self.metrics.last_published_version.set(result.version)
        return result

    def republish(self) -> bool:
        """Publish the stored release whose manifest was not acknowledged; True when none waits."""
        if self.unpublished is None:
            return True
        try:
            self.publisher.publish(self.releases.manifest(self.unpublished))
        except ServiceError as exc:
            self.metrics.publish_failures.inc()
            log.warning("release %d still not published: %s", self.unpublished, exc)
            return False
        log.info("release %d published", self.unpublished)
        self.metrics.last_published_version.set(self.unpublished)
        self.unpublished = None
        return True

    def tick(self) -> CycleResult | None:
        """Evaluate the triggers once; run a cycle when one is due."""
        if not self.republish():
            return None  # no new release on top of one the fleet cannot see yet
        now = self.clock()
        try:
            trigger = self.triggers.due(
                now, self.samples.new_count(), self.samples.pending_commands(),
                self.releases.latest(),
            )  # fmt: skip
        except SampleStoreError as exc:
            log.error("cannot read the sample store: %s", exc)
            return None
        self._note_drift()
        if trigger is None:
            return None
        log.info("trigger %s fired", trigger.reason)
        result = self.run_cycle(trigger)
        self.triggers.record(trigger, self.clock())
        return result

    def run(self) -> None:
        """Ingest thread + trigger loop until ``stop_event`` is set."""
        ingest = threading.Thread(target=self._ingest_forever, name="distiller-ingest", daemon=True)
        ingest.start()
        try:
            while not self.stop_event.is_set():
                self.tick()
                self.stop_event.wait(self.settings.tick_s)
        finally:
            self.stop_event.set()
            ingest.join(timeout=30)

    def _ingest_forever(self) -> None:
        while not self.stop_event.is_set():
            try:
                self.run_ingest()
            except Exception:  # the consumer itself broke (broker gone): restart it
                log.exception("ingest stopped; restarting in 5 s")
                self.stop_event.wait(5.0)

    def _note_drift(self) -> None:
        value = self.triggers.last_drift
        self.metrics.drift.set(value if value is not None else float("nan"))
        self.metrics.drift_errors.inc(self.triggers.drift_errors - self._drift_errors_seen)
        self._drift_errors_seen = self.triggers.drift_errors

    def _refresh_gauges(self) -> None:
        try:
            self.metrics.samples_total.set(self.samples.count())
            self.metrics.new_samples.set(self.samples.new_count())
        except SampleStoreError:
            pass
        latest = self.releases.latest()
        if latest is not None:
            self.metrics.current_version.set(latest)
