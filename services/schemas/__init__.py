"""Versioned wire schemas of every MQTT payload and Kafka record (``docs/architecture.md``,
"Topics and their keys")."""

from services.schemas.base import MAX_MESSAGE_BYTES, Message, parse
from services.schemas.labels import (
    LabelDeadLetter,
    LabelledSample,
    LabelRequest,
    RequestMeta,
    Window,
    parse_label_dead_letter,
    parse_label_request,
    parse_labelled_sample,
)
from services.schemas.ops import (
    OPS_COMMAND_ADAPTER,
    Halt,
    OpsCommand,
    Redistill,
    Rollback,
    Rollout,
    parse_ops_command,
)
from services.schemas.prediction import (
    EntitySpan,
    LabelProb,
    PredictionEvent,
    PredictionEventV2,
    parse_prediction,
)
from services.schemas.release import (
    ConfidenceHistogram,
    ReferenceProfile,
    ReleaseManifest,
    parse_release_manifest,
)
from services.schemas.rollout import RolloutRecord, parse_rollout_record
from services.schemas.status import DeviceStatus, OtaProgress, parse_device_status

__all__ = [
    "MAX_MESSAGE_BYTES",
    "OPS_COMMAND_ADAPTER",
    "ConfidenceHistogram",
    "DeviceStatus",
    "EntitySpan",
    "Halt",
    "LabelDeadLetter",
    "LabelProb",
    "LabelRequest",
    "LabelledSample",
    "Message",
    "OpsCommand",
    "OtaProgress",
    "PredictionEvent",
    "PredictionEventV2",
    "Redistill",
    "ReferenceProfile",
    "ReleaseManifest",
    "RequestMeta",
    "Rollback",
    "Rollout",
    "RolloutRecord",
    "Window",
    "parse",
    "parse_device_status",
    "parse_label_dead_letter",
    "parse_label_request",
    "parse_labelled_sample",
    "parse_ops_command",
    "parse_prediction",
    "parse_release_manifest",
    "parse_rollout_record",
]
