"""Prediction event: one classification made on a device (MQTT ``fleet/<dev>/pred``,
Kafka ``fleet.predictions`` keyed by device id).

Version 1 is the classification alone. Version 2 (:class:`PredictionEventV2`) is sent by a
model with an entity tagging head and adds the entities it found (type, character span into
``text``, the span's text). Both parse through :func:`parse_prediction`; a v2 event is a
``PredictionEvent`` too, so consumers of v1 fields need no change.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, TypeAdapter, model_validator

from contract.schemas.base import (
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


# Entity types are named by the model blob (docs/model-blob.md): upper-case words.
EntityType = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,15}$")]
MAX_ENTITIES = 32


class EntitySpan(Message):
    type: EntityType  # ID, CARRIER, PLACE, DATE, QTY for the logistics tagger
    start: int = Field(ge=0)  # first character (Unicode code point index) of ``text``
    end: int = Field(ge=1)  # one past the last character
    text: str = Field(min_length=1, max_length=256)  # ``event.text[start:end]``


class PredictionEventV2(PredictionEvent):
    """A prediction of a model with an entity tagging head."""

    schema_version: Literal[2] = 2  # type: ignore[assignment]  # v2 extends v1
    entities: list[EntitySpan] = Field(max_length=MAX_ENTITIES)  # in text order; may be empty

    @model_validator(mode="after")
    def _entities_in_text(self) -> PredictionEventV2:
        end = 0
        for entity in self.entities:
            if not end <= entity.start < entity.end <= len(self.text):
                raise ValueError(
                    f"entity [{entity.start}, {entity.end}) must lie in the text after the last"
                )
            if self.text[entity.start : entity.end] != entity.text:
                raise ValueError(f"entity text {entity.text!r} is not text[start:end]")
            end = entity.end
        return self


PREDICTION_ADAPTER: TypeAdapter[PredictionEvent | PredictionEventV2] = TypeAdapter(
    Annotated[PredictionEvent | PredictionEventV2, Field(discriminator="schema_version")]
)


def parse_prediction(raw: bytes) -> PredictionEvent:
    """A v1 or v2 prediction event (v2 is a subclass of v1)."""
    return parse(PREDICTION_ADAPTER, raw)
