"""Device status: heartbeats, boot reports, OTA progress, errors (MQTT
``fleet/<dev>/status``, Kafka ``fleet.device-status`` keyed by device id)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from contract.schemas.base import DeviceId, Message, ModelVersion, Probability, Timestamp, parse

FirmwareVersion = Annotated[str, StringConstraints(pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")]

OtaStep = Literal[
    "manifest_received",  # a manifest for this device arrived and its signature verified
    "rejected",  # manifest refused: unsigned, mis-signed, older, wrong target, firmware too old
    "downloading",  # chunks are arriving; ``progress`` says how far
    "verified",  # the whole blob matches the manifest's sha256 and size
    "staged",  # written to the inactive A/B slot
    "self_test",  # booted the new slot, running the golden self-test
    "confirmed",  # self-test passed, the new slot is permanent
    "reverted",  # self-test failed or watchdog fired, back on the old slot
]


class OtaProgress(Message):
    release_version: ModelVersion  # the release being installed
    step: OtaStep
    progress: Probability = 0.0  # fraction of bytes received while downloading
    reason: str | None = Field(default=None, max_length=200)  # why rejected / reverted


class DeviceStatus(Message):
    schema_version: Literal[1] = 1
    device_id: DeviceId
    kind: Literal["boot", "heartbeat", "ota", "error"]
    ts: Timestamp
    model_version: ModelVersion  # the student running now
    firmware_version: FirmwareVersion
    uptime_s: int = Field(ge=0)
    free_heap_bytes: int | None = Field(default=None, ge=0)
    ota: OtaProgress | None = None  # required when kind == "ota"
    error: str | None = Field(default=None, max_length=200)  # required when kind == "error"

    @model_validator(mode="after")
    def _kind_payload(self) -> DeviceStatus:
        if self.kind == "ota" and self.ota is None:
            raise ValueError("kind 'ota' requires the 'ota' field")
        if self.kind == "error" and not self.error:
            raise ValueError("kind 'error' requires the 'error' field")
        return self


def parse_device_status(raw: bytes) -> DeviceStatus:
    return parse(DeviceStatus, raw)
