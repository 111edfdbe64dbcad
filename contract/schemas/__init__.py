"""Versioned wire schemas of every MQTT payload and Kafka record (``docs/architecture.md``,
"Topics and their keys"), exported as JSON Schema to ``docs/schemas/``."""

from contract.limits import MAX_MESSAGE_BYTES
from contract.schemas.base import Message, parse
from contract.schemas.chunks import Chunk, ChunkRequest, parse_chunk, parse_chunk_request
from contract.schemas.dlq import DlqRecord, parse_dlq_record
from contract.schemas.labels import (
    LabelDeadLetter,
    LabeledSample,
    LabelRequest,
    RequestMeta,
    Window,
    parse_label_dead_letter,
    parse_label_request,
    parse_labeled_sample,
)
from contract.schemas.ops import (
    OPS_COMMAND_ADAPTER,
    Halt,
    OpsCommand,
    Redistill,
    Rollback,
    Rollout,
    parse_ops_command,
)
from contract.schemas.prediction import (
    EntitySpan,
    LabelProb,
    PredictionEvent,
    PredictionEventV2,
    parse_prediction,
)
from contract.schemas.release import (
    ConfidenceHistogram,
    ReferenceProfile,
    ReleaseManifest,
    parse_release_manifest,
)
from contract.schemas.rollout import RolloutRecord, parse_rollout_record
from contract.schemas.status import DeviceStatus, OtaProgress, parse_device_status

__all__ = [
    "MAX_MESSAGE_BYTES",
    "OPS_COMMAND_ADAPTER",
    "Chunk",
    "ChunkRequest",
    "ConfidenceHistogram",
    "DeviceStatus",
    "DlqRecord",
    "EntitySpan",
    "Halt",
    "LabelDeadLetter",
    "LabelProb",
    "LabelRequest",
    "LabeledSample",
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
    "parse_chunk",
    "parse_chunk_request",
    "parse_device_status",
    "parse_dlq_record",
    "parse_label_dead_letter",
    "parse_label_request",
    "parse_labeled_sample",
    "parse_ops_command",
    "parse_prediction",
    "parse_release_manifest",
    "parse_rollout_record",
]
