"""Dead-letter record: what the gateway could not forward, with the reason and the bytes."""

from __future__ import annotations

import base64
from typing import Annotated, Literal

from pydantic import StringConstraints

from contract.limits import MAX_DLQ_RECORD_BYTES, MAX_TOPIC_CHARS
from contract.schemas.base import Message, Timestamp, parse


class DlqRecord(Message):
    """One rejected MQTT message (Kafka ``fleet.predictions.dlq``, keyed by MQTT topic)."""

    schema_version: Literal[1] = 1
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]  # why rejected
    topic: Annotated[str, StringConstraints(max_length=MAX_TOPIC_CHARS)]  # MQTT topic it came on
    payload_b64: str  # the original bytes, standard base64
    received_ts: Timestamp  # when the gateway received it (Unix seconds)
    gateway_id: Annotated[str, StringConstraints(max_length=128)] = ""  # client id of the gateway

    @classmethod
    def of(
        cls, reason: str, topic: str, payload: bytes, received_ts: float, gateway_id: str = ""
    ) -> DlqRecord:
        return cls(
            reason=reason[:500] or "unknown",
            topic=topic[:MAX_TOPIC_CHARS],
            payload_b64=base64.b64encode(payload).decode("ascii"),
            received_ts=received_ts,
            gateway_id=gateway_id[:128],
        )

    def payload(self) -> bytes:
        return base64.b64decode(self.payload_b64)


def parse_dlq_record(raw: bytes) -> DlqRecord:
    # The record embeds up to Mosquitto's message_size_limit of payload, base64-encoded.
    return parse(DlqRecord, raw, max_bytes=MAX_DLQ_RECORD_BYTES)
