"""What every message shares: strict envelope rules and the one parse path.

Every MQTT payload and Kafka record is UTF-8 JSON of a pydantic model with a
``schema_version`` literal and ``extra="forbid"``. :func:`parse` turns *any* bad input
(non-bytes, oversized, invalid UTF-8, bad JSON, wrong schema) into
:class:`contract.errors.ValidationError` whose ``reason`` goes to the dead-letter topic.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from contract.errors import ValidationError
from contract.limits import MAX_MESSAGE_BYTES, MAX_REASON_CHARS, MAX_TEXT_CHARS

# Device ids appear in MQTT topics and as usernames: no wildcards, no slashes.
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
# Message ids are unique per message (device id + sequence number, or a UUID).
MessageId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
Label = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
Timestamp = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]  # Unix seconds, UTC
UINT32_MAX = 2**32 - 1  # the C engine stores model versions as uint32_t (blob header, slots)
# monotonic student version; 0 = factory model
ModelVersion = Annotated[int, Field(ge=0, le=UINT32_MAX)]
ReleaseVersion = Annotated[int, Field(ge=1, le=UINT32_MAX)]  # a release (the factory model is 0)


class Message(BaseModel):
    """Base of every wire message: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_bytes(self) -> bytes:
        """The wire form: compact UTF-8 JSON."""
        return self.model_dump_json().encode("utf-8")


M = TypeVar("M")


def parse(schema: type[M] | TypeAdapter[M], raw: Any, max_bytes: int = MAX_MESSAGE_BYTES) -> M:
    """Validate ``raw`` bytes against ``schema``; raise only :class:`ValidationError`."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ValidationError(f"expected bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if len(data) > max_bytes:
        raise ValidationError(f"payload of {len(data)} bytes exceeds the {max_bytes}-byte limit")
    adapter = schema if isinstance(schema, TypeAdapter) else _adapter(schema)
    try:
        # bytes straight in: the JSON parser checks UTF-8 itself (decoding first cost ~15 %)
        return adapter.validate_json(data)
    except pydantic.ValidationError as exc:
        _raise_if_not_utf8(data)
        raise ValidationError(_reason(exc)) from exc
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        # Validators raise ValueError (wrapped by pydantic); anything else escaping the JSON
        # parser for pathological input still must not crash a consumer.
        raise ValidationError(f"{type(exc).__name__}: {exc}"[:MAX_REASON_CHARS]) from exc


def _raise_if_not_utf8(data: bytes) -> None:
    """A rejected payload that is not UTF-8 at all gets that as its reason."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"invalid UTF-8 at byte {exc.start}") from exc


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(schema: type[M]) -> TypeAdapter[M]:
    """One adapter per schema: building it costs more than validating a message."""
    adapter = _ADAPTERS.get(schema)
    if adapter is None:
        adapter = _ADAPTERS[schema] = TypeAdapter(schema)
    return adapter


def _reason(exc: pydantic.ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)[:MAX_REASON_CHARS]
