"""Teacher labeling: the processor's requests (Kafka ``distill.label-requests``) and the
labeler's answers (Kafka ``distill.labeled``), both keyed by message id."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, StringConstraints, model_validator

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

Strategy = Literal[
    "low_confidence",  # confidence under the threshold
    "margin",  # top-1 minus top-2 probability is small
    "entropy",  # the top-k distribution has high entropy
    "drift",  # sampled from a window whose class mix or confidence drifted
    "random",  # uniform control sample, keeps the replay set unbiased
]


class Window(Message):
    """The processor window the sample was drawn from."""

    start: Timestamp
    end: Timestamp

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("window end precedes start")
        return self


class RequestMeta(Message):
    """Why and from where a message was sent for labeling."""

    model_version: ModelVersion  # the student whose prediction triggered the request
    device_id: DeviceId
    strategy: Strategy
    score: float = Field(allow_inf_nan=False)  # strategy-specific priority (higher = sooner)
    window: Window


class LabelRequest(RequestMeta):
    schema_version: Literal[1] = 1
    message_id: MessageId  # of the prediction event
    text: Text

    def meta(self) -> RequestMeta:
        return RequestMeta(**self.model_dump(include=set(RequestMeta.model_fields)))


class LabeledSample(Message):
    schema_version: Literal[1] = 1
    message_id: MessageId
    text: Text
    teacher_probs: dict[Label, Probability] = Field(min_length=2, max_length=256)
    label: Label  # argmax of teacher_probs
    teacher_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    request: RequestMeta
    # Records written before the spelling became "labeled" carry ``labelled_at``; both parse.
    labeled_at: Timestamp = Field(validation_alias=AliasChoices("labeled_at", "labelled_at"))

    @model_validator(mode="after")
    def _probs(self) -> LabeledSample:
        total = math.fsum(self.teacher_probs.values())
        if abs(total - 1.0) > 1e-3:
            raise ValueError(f"teacher_probs sum to {total:.4f}, expected 1")
        if self.label not in self.teacher_probs:
            raise ValueError("label is not a key of teacher_probs")
        if self.teacher_probs[self.label] < max(self.teacher_probs.values()):
            raise ValueError("label must be the argmax of teacher_probs")
        return self


class LabelDeadLetter(Message):
    """A request the teacher gave no label for in ``attempts`` tries (Kafka
    ``distill.label-requests.dlq``, keyed by message id): the whole request and why."""

    schema_version: Literal[1] = 1
    request: LabelRequest
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]  # the last failure
    attempts: int = Field(ge=1)
    teacher_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    failed_at: Timestamp


def parse_label_request(raw: bytes) -> LabelRequest:
    return parse(LabelRequest, raw)


def parse_labeled_sample(raw: bytes) -> LabeledSample:
    return parse(LabeledSample, raw)


def parse_label_dead_letter(raw: bytes) -> LabelDeadLetter:
    return parse(LabelDeadLetter, raw)
