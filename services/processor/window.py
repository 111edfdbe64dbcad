"""One tumbling window of one model version: the aggregate kept in the faust table.

Pure and JSON-serialisable (faust stores it in a changelog-backed table, so the state of an
open window survives a processor restart). Windows are aligned on multiples of their size
in Unix seconds of the Kafka record timestamp (ingestion time at the gateway), not the
device's own clock, which microcontrollers without an RTC cannot keep.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from contract.schemas import PredictionEvent

CONFIDENCE_BINS = 100  # fine histogram of [0, 1]; rebinned onto the reference's edges


def window_start(ts: float, size_s: float) -> float:
    """Start of the tumbling window of ``size_s`` seconds that contains ``ts``."""
    return math.floor(ts / size_s) * size_s


def window_key(model_version: int, start: float) -> str:
    """Table key of a window; also the prefix of its candidate pools' keys."""
    return f"{model_version}|{start:.3f}"


def confidence_bin(confidence: float) -> int:
    return min(int(confidence * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)


@dataclass
class WindowAggregate:
    """Counts of one window; ``partition`` is where its table writes go (see service.py)."""

    model_version: int
    start: float
    end: float
    partition: int
    events: int = 0
    low_confidence: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)
    confidence_counts: dict[int, int] = field(default_factory=dict)  # sparse fine histogram
    latency_sum_us: int = 0
    latency_max_us: int = 0
    candidate_devices: list[str] = field(default_factory=list)  # devices with a pool
    last_offset: int = -1  # highest offset of its partition applied (replays at or below skip)

    @property
    def key(self) -> str:
        return window_key(self.model_version, self.start)

    def add(self, event: PredictionEvent, low_confidence: bool) -> None:
        self.events += 1
        self.low_confidence += int(low_confidence)
        self.class_counts[event.label] = self.class_counts.get(event.label, 0) + 1
        b = confidence_bin(event.confidence)
        self.confidence_counts[b] = self.confidence_counts.get(b, 0) + 1
        self.latency_sum_us += event.latency_us
        self.latency_max_us = max(self.latency_max_us, event.latency_us)

    def note_candidate_device(self, device_id: str) -> None:
        if device_id not in self.candidate_devices:
            self.candidate_devices.append(device_id)

    def fine_confidence(self) -> list[int]:
        dense = [0] * CONFIDENCE_BINS
        for b, n in self.confidence_counts.items():
            dense[b] = n
        return dense

    @property
    def low_confidence_ratio(self) -> float:
        return self.low_confidence / self.events if self.events else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "start": self.start,
            "end": self.end,
            "partition": self.partition,
            "events": self.events,
            "low_confidence": self.low_confidence,
            "class_counts": self.class_counts,
            # JSON object keys are strings
            "confidence_counts": {str(b): n for b, n in self.confidence_counts.items()},
            "latency_sum_us": self.latency_sum_us,
            "latency_max_us": self.latency_max_us,
            "candidate_devices": self.candidate_devices,
            "last_offset": self.last_offset,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WindowAggregate:
        fields = dict(data)
        fields["confidence_counts"] = {int(b): n for b, n in data["confidence_counts"].items()}
        return cls(**fields)
