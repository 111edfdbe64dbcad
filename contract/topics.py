"""Every topic name of the wire: the MQTT topics devices and services talk on (builders,
subscription filters, parsers) and the Kafka topics (names; partition counts are settings).

Devices may use only their own topics; ``services/stack/registry.py`` turns these into the
broker's ACLs. Keys and writers of the Kafka topics: ``docs/architecture.md``.
"""

from __future__ import annotations

import re

# -- Kafka ------------------------------------------------------------------------------------

# settings field -> Kafka topic name
TOPIC_NAMES: dict[str, str] = {
    "predictions": "fleet.predictions",
    "predictions_dlq": "fleet.predictions.dlq",
    "device_status": "fleet.device-status",
    "label_requests": "distill.label-requests",
    "label_dlq": "distill.label-requests.dlq",
    "labeled": "distill.labeled",
    "releases": "model.releases",
    "ops_commands": "ops.commands",
    "rollouts": "model.rollouts",
}

# -- MQTT ---------------------------------------------------------------------------------------


def prediction_topic(device_id: str) -> str:
    """Device -> gateway: ``PredictionEvent``."""
    return f"fleet/{device_id}/pred"


def status_topic(device_id: str) -> str:
    """Device -> gateway: ``DeviceStatus``."""
    return f"fleet/{device_id}/status"


def group_manifest_topic(group: str) -> str:
    """Rollout manager -> the group's devices: the retained ``ReleaseManifest``."""
    return f"fleet/groups/{group}/ota"


def device_manifest_topic(device_id: str) -> str:
    """Rollout manager -> one device: a ``ReleaseManifest``."""
    return f"fleet/{device_id}/ota/manifest"


def chunk_request_topic(device_id: str) -> str:
    """Device -> chunk server: ``ChunkRequest``."""
    return f"fleet/{device_id}/ota/req"


def chunk_topic(device_id: str) -> str:
    """Chunk server -> device: ``Chunk``."""
    return f"fleet/{device_id}/ota/chunk"


def device_ota_filter(device_id: str) -> str:
    """Everything the services send to one device."""
    return f"fleet/{device_id}/ota/#"


def shared(group: str, topic_filter: str) -> str:
    """``topic_filter`` as an MQTT v5 shared subscription: the group's members split it."""
    return f"$share/{group}/{topic_filter}"


PREDICTIONS = prediction_topic("+")  # every device's predictions
STATUSES = status_topic("+")  # every device's status reports
CHUNK_REQUESTS = chunk_request_topic("+")  # every device's chunk requests

UPLINK_RE = re.compile(r"^fleet/([^/]+)/(pred|status)$")  # device id, "pred" or "status"
CHUNK_REQUEST_RE = re.compile(r"^fleet/([^/]+)/ota/req$")  # device id
MANIFEST_RE = re.compile(r"^fleet/(groups/[^/]+/ota|[^/]+/ota/manifest)$")
CHUNK_RE = re.compile(r"^fleet/[^/]+/ota/chunk$")
