"""What the gateway checks beyond a payload's schema, so no device can speak for another or
for the whole fleet:

- a prediction's ``message_id`` must start with ``<device id>-`` (the topic's device: the
  broker's ACL proves who published), so one device cannot pre-empt another's ids;
- each device gets a token bucket of ``rate_per_s`` messages per second and ``burst`` at once
  (sized above the edge agent's offline buffer of 1 000, which it flushes on reconnect).
  Messages over it go to the dead-letter topic with the reason, like any refused message,
  and are counted in ``fleet_gateway_rate_limited_total`` (no device label: that cardinality
  is the fleet's size; the DLQ records name the topic).

The buckets are kept per device id seen on an accepted topic (bounded by the registry: the
broker lets a device publish only on its own topics) and dropped once full again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter

from contract.errors import ValidationError
from contract.schemas import DeviceStatus, PredictionEvent

PRUNE_EVERY = 10_000  # admissions between sweeps of buckets that are full again


class DeviceGuard:
    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        registry: CollectorRegistry,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate_per_s, self.burst, self.clock = rate_per_s, burst, clock
        self.rate_limited = Counter(
            "fleet_gateway_rate_limited_total",
            "Messages over their device's rate limit (sent to the dead-letter topic)",
            registry=registry,
        )
        self._buckets: dict[str, list[float]] = {}  # device -> [tokens, at]
        self._lock = threading.Lock()
        self._admitted = 0

    def admit(self, device_id: str) -> None:
        """Take one token of ``device_id``'s bucket; ValidationError when it is empty."""
        if self.rate_per_s <= 0:
            return  # limiting off
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(device_id)
            if bucket is None:
                bucket = self._buckets[device_id] = [float(self.burst), now]
            tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate_per_s)
            bucket[1] = now
            if tokens < 1:
                bucket[0] = tokens
                self.rate_limited.inc()
                raise ValidationError(
                    f"device {device_id!r} is over its rate limit "
                    f"({self.rate_per_s:g} messages/s, burst {self.burst})"
                )
            bucket[0] = tokens - 1
            self._admitted += 1
            if self._admitted % PRUNE_EVERY == 0:
                self._prune(now)

    def _prune(self, now: float) -> None:
        refill_s = self.burst / self.rate_per_s
        for device in [d for d, (_, at) in self._buckets.items() if now - at >= refill_s]:
            del self._buckets[device]

    @staticmethod
    def check_ids(device_id: str, message: PredictionEvent | DeviceStatus) -> None:
        """A prediction's message id must belong to the topic's device."""
        if isinstance(message, PredictionEvent) and not message.message_id.startswith(
            f"{device_id}-"
        ):
            raise ValidationError(
                f"message_id {message.message_id!r} does not belong to device {device_id!r} "
                f"(it must start with '{device_id}-')"
            )
