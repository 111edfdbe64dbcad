"""When the distiller retrains: on an ops command, on sustained drift, or on its schedule.

:class:`Triggers` is pure bookkeeping over a clock (unit-tested without Kafka or Prometheus);
drift values come from a :class:`DriftSource`: :class:`PrometheusDrift` asks the Prometheus
HTTP API for the processor's recorded PSI of the current release, :class:`MemoryDrift` is the
test double. Polling Prometheus (rather than receiving the FleetDriftHigh alert) needs no
Alertmanager and no inbound port, and the query's ``min_over_time`` over the hold period has
the alert's ``for:`` semantics.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

from contract.schemas import Redistill
from models.errors import ConfigError
from services.errors import ServiceError

log = logging.getLogger(__name__)

Reason = Literal["ops", "drift", "schedule", "manual"]  # manual: `fleet distiller once`


class DriftSource(ABC):
    @abstractmethod
    def drift(self, version: int) -> float | None:
        """The drift statistic of release ``version`` now, or None when unknown (no data yet).
        Called on the cycle thread every ``drift_poll_s``; raising :class:`ServiceError` means
        the source is unreachable (logged and counted, the trigger does not fire)."""


class MemoryDrift(DriftSource):
    def __init__(self, values: dict[int, float] | None = None) -> None:
        self.values = dict(values or {})

    def drift(self, version: int) -> float | None:
        return self.values.get(version)


class PrometheusDrift(DriftSource):
    """Instant query ``query.format(version=..., hold_s=...)``; the largest sample wins."""

    def __init__(self, url: str, query: str, hold_s: int, timeout_s: float = 5.0) -> None:
        if "{version}" not in query:
            raise ConfigError(f"the drift query must contain {{version}}, got {query!r}")
        self.url, self.query, self.hold_s, self.timeout_s = (
            url.rstrip("/"),
            query,
            hold_s,
            timeout_s,
        )

    def drift(self, version: int) -> float | None:
        promql = self.query.format(version=version, hold_s=self.hold_s)
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                body = json.loads(response.read())
        except (OSError, ValueError) as exc:
            raise ServiceError(f"Prometheus query failed ({self.url}): {exc}") from exc
        if body.get("status") != "success":
            raise ServiceError(f"Prometheus query failed: {body.get('error', body)}")
        values = [float(r["value"][1]) for r in body["data"].get("result", [])]
        values = [v for v in values if math.isfinite(v)]
        return max(values) if values else None


@dataclass(frozen=True)
class TriggerConfig:
    interval_s: float  # schedule: at most one scheduled cycle this often ...
    min_new_samples: int  # ... and only with this many new samples
    drift_threshold: float  # drift above this fires ...
    drift_poll_s: float  # (how often the source is asked)
    drift_cooldown_s: float  # ... at most this often ...
    drift_min_new_samples: int  # ... and only with this many new samples

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.drift_poll_s <= 0 or self.drift_cooldown_s < 0:
            raise ConfigError("interval_s and drift_poll_s must be > 0, drift_cooldown_s >= 0")
        if self.min_new_samples < 1 or self.drift_min_new_samples < 1:
            raise ConfigError("min_new_samples and drift_min_new_samples must be >= 1")


@dataclass(frozen=True)
class Trigger:
    reason: Reason
    command: Redistill | None = None  # the ops command, for reason "ops"
    drift: float | None = None  # the value that fired, for reason "drift"
    steps: int | None = None  # a step cap for a manual cycle

    @property
    def max_steps(self) -> int | None:
        """The command's step cap, else ``steps``; None means the configured one."""
        if self.command is not None and self.command.max_steps is not None:
            return self.command.max_steps
        return self.steps


class Triggers:
    """Decides, on every tick, whether a cycle is due and why (ops > drift > schedule)."""

    def __init__(self, config: TriggerConfig, drift: DriftSource | None, now: float) -> None:
        self.config, self.source = config, drift
        self.last_cycle = now  # schedule counts from the start, then from each cycle
        self.last_drift_cycle = -math.inf
        self.last_poll = -math.inf
        self.last_drift: float | None = None
        self.drift_errors = 0

    def due(
        self, now: float, new_samples: int, pending: list[Redistill], version: int | None
    ) -> Trigger | None:
        c = self.config
        # 1. An ops command: always, one cycle per accepted command id (the store dedups).
        if pending:
            return Trigger("ops", command=pending[0])
        # 2. Drift of the current release above the threshold (polled, with a cooldown).
        if (
            self.source is not None
            and version is not None
            and now - self.last_poll >= c.drift_poll_s
        ):
            self.last_poll = now
            try:
                self.last_drift = self.source.drift(version)
            except ServiceError as exc:
                self.drift_errors += 1
                log.warning("drift unavailable: %s", exc)
                self.last_drift = None
            if (
                self.last_drift is not None
                and self.last_drift > c.drift_threshold
                and now - self.last_drift_cycle >= c.drift_cooldown_s
                and new_samples >= c.drift_min_new_samples
            ):
                return Trigger("drift", drift=self.last_drift)
        # 3. The schedule, when enough new samples arrived.
        if now - self.last_cycle >= c.interval_s and new_samples >= c.min_new_samples:
            return Trigger("schedule")
        return None

    def record(self, trigger: Trigger, now: float) -> None:
        """A cycle for ``trigger`` ran (whatever its outcome): restart the clocks."""
        self.last_cycle = now
        if trigger.reason == "drift":
            self.last_drift_cycle = now
