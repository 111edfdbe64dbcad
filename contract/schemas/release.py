"""Release manifest: what the distiller publishes (Kafka ``model.releases``, compacted, keyed
``<target>/v<version>``: ``services.releases.announce``) and the rollout manager sends to
devices (MQTT ``fleet/groups/<group>/ota``).

The Ed25519 ``signature`` covers :meth:`ReleaseManifest.signing_payload`: the manifest
without its signature as canonical JSON (sorted keys, no spaces, UTF-8).
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from contract.limits import MAX_BLOB_BYTES
from contract.schemas.base import (
    DeviceId,
    Label,
    Message,
    MessageId,
    Probability,
    ReleaseVersion,
    Timestamp,
    parse,
)
from contract.schemas.ops import Group
from contract.schemas.status import FirmwareVersion

Sha256Hex = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
# 64 signature bytes in standard base64 with padding: 88 characters.
Ed25519Signature = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9+/]{86}==$")]
Target = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
MAX_REVOKED = 256  # revoked releases a grant carries (the newest)


class ConfidenceHistogram(Message):
    edges: list[Probability] = Field(min_length=2, max_length=101)  # ascending bin edges
    frequencies: list[Probability] = Field(min_length=1, max_length=100)  # sum to 1

    @model_validator(mode="after")
    def _shape(self) -> ConfidenceHistogram:
        if len(self.edges) != len(self.frequencies) + 1:
            raise ValueError("edges must have one more entry than frequencies")
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("edges must be strictly ascending")
        _check_distribution(self.frequencies, "frequencies")
        return self


class ReferenceProfile(Message):
    """What the release looked like on held-out data; drift is measured against it."""

    class_mix: dict[Label, Probability] = Field(min_length=1, max_length=256)  # sum to 1
    confidence: ConfidenceHistogram

    @model_validator(mode="after")
    def _mix(self) -> ReferenceProfile:
        _check_distribution(list(self.class_mix.values()), "class_mix")
        return self


class RolloutGrant(Message):
    """Whom the rollout manager sent a manifest to, and until when. It binds each manifest it
    publishes to one group (or one device) and signs it again, so a captured manifest cannot
    be replayed to another audience or after ``expires``; ``revoked`` lists releases that
    were halted or rolled back, which a device refuses from then on."""

    rollout_id: MessageId  # "<version>-<group or device>-<issued>", for logs and reports
    group: Group | None = None  # the audience: a group ...
    device_id: DeviceId | None = None  # ... or one device (exactly one of the two)
    issued: Timestamp
    expires: Timestamp
    revoked: list[ReleaseVersion] = Field(default_factory=list, max_length=MAX_REVOKED)

    @model_validator(mode="after")
    def _audience(self) -> RolloutGrant:
        if (self.group is None) == (self.device_id is None):
            raise ValueError("a rollout grant names exactly one of group and device_id")
        if self.expires <= self.issued:
            raise ValueError("a rollout grant expires after it is issued")
        return self


class ReleaseManifest(Message):
    schema_version: Literal[1] = 1
    version: ReleaseVersion  # monotonic; devices refuse older
    sha256: Sha256Hex  # of the model blob
    size: int = Field(gt=0, le=MAX_BLOB_BYTES)  # blob bytes
    target: Target  # e.g. "stm32f405-tinylstm"; devices refuse other targets
    min_firmware: FirmwareVersion  # devices on older firmware refuse
    created: AwareDatetime
    metrics: dict[Annotated[str, StringConstraints(max_length=64)], float] = Field(
        default_factory=dict, max_length=64
    )  # gate metrics, e.g. accuracy, macro_f1, teacher agreement
    reference_profile: ReferenceProfile
    # set by the rollout manager on what it sends to devices (the distiller's has none)
    rollout: RolloutGrant | None = None
    signature: Ed25519Signature | None = None  # None only before signing

    def signing_payload(self) -> bytes:
        """Canonical bytes the signature covers (everything but the signature; ``rollout``
        only when set, so manifests signed before it existed still verify)."""
        exclude = {"signature"} if self.rollout is not None else {"signature", "rollout"}
        body = self.model_dump(mode="json", exclude=exclude)
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8"
        )


def _check_distribution(values: list[float], name: str) -> None:
    total = math.fsum(values)
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"{name} sums to {total:.4f}, expected 1")


def parse_release_manifest(raw: bytes) -> ReleaseManifest:
    return parse(ReleaseManifest, raw)
