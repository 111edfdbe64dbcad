"""Prediction event: one classification made on a device (MQTT ``fleet/<dev>/pred``,
Kafka ``fleet.predictions`` keyed by device id)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from services.schemas.base import (
    DeviceId,
    Label,
    Message,
    MessageId,
    ModelVersion,
    Probability,
    Text,
    Timestamp,
    parse,
)


class LabelProb(Message):
    label: Label
    prob: Probability


class PredictionEvent(Message):
    schema_version: Literal[1] = 1
    device_id: DeviceId  # who classified
    seq: int = Field(ge=0)  # per-device counter; resets only on reboot with a new message_id
    message_id: MessageId  # unique; consumers deduplicate on it
    text: Text  # the classified message
    label: Label  # the argmax class
    confidence: Probability  # probability of ``label``
    topk: list[LabelProb] = Field(min_length=1, max_length=16)  # best first
    model_version: ModelVersion  # the student that ran
    latency_us: int = Field(ge=0, le=60_000_000)  # on-device inference time
    ts: Timestamp  # when the device classified (Unix seconds)

    @model_validator(mode="after")
    def _topk_consistent(self) -> PredictionEvent:
        # One pass without generators: this runs for every message the gateway forwards.
        topk = self.topk
        prev = total = topk[0].prob
        for item in topk[1:]:
            prob = item.prob
            if prob > prev:
                raise ValueError("topk must be sorted by descending prob")
            total += prob
            prev = prob
        if total > 1.0 + 1e-3:
            raise ValueError(f"topk probabilities sum to {total:.4f} > 1")
        if topk[0].label != self.label:
            raise ValueError("label must be the first topk label")
        if abs(topk[0].prob - self.confidence) > 1e-3:
            raise ValueError("confidence must equal the first topk prob")
        return self


def parse_prediction(raw: bytes) -> PredictionEvent:
    return parse(PredictionEvent, raw)
