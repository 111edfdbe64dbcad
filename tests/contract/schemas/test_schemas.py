"""Wire schemas: round trips, the rejections that matter, and exported JSON Schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from contract.errors import ValidationError
from contract.limits import MAX_MESSAGE_BYTES
from contract.schemas import (
    Message,
    Rollout,
    examples,
    parse_device_status,
    parse_label_request,
    parse_labeled_sample,
    parse_ops_command,
    parse_prediction,
    parse_release_manifest,
)
from services.schema_export import DEFAULT_DIR, render

CASES: list[tuple[Callable[[], Message], Callable[[bytes], Any]]] = [
    (examples.prediction_event, parse_prediction),
    (examples.prediction_event_v2, parse_prediction),
    (examples.device_status, parse_device_status),
    (lambda: examples.device_status(step="staged"), parse_device_status),
    (examples.label_request, parse_label_request),
    (examples.labeled_sample, parse_labeled_sample),
    (examples.release_manifest, parse_release_manifest),
    (examples.rollout_command, parse_ops_command),
]


@pytest.mark.parametrize(("make", "parser"), CASES)
def test_round_trip_is_identity(make: Callable[[], Message], parser: Callable[[bytes], Any]):
    message = make()
    raw = message.to_bytes()
    assert parser(raw) == message
    assert type(parser(raw)) is type(message)
    assert json.loads(raw)["schema_version"] == getattr(message, "schema_version", None)


def _mutated(make: Callable[[], Message], **changes: Any) -> bytes:
    body = json.loads(make().to_bytes())
    body.update(changes)
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\xff\xfe", "invalid UTF-8"),
        (b"{", "Invalid JSON"),
        (b"[]", "should be an object"),
        (b" " * (MAX_MESSAGE_BYTES + 1), "exceeds"),
        (_mutated(examples.prediction_event, schema_version=3), "schema_version"),
        (_mutated(examples.prediction_event, schema_version=2), "entities"),
        (_mutated(examples.prediction_event, entities=[]), "Extra inputs"),  # v1 has none
        (
            _mutated(
                examples.prediction_event_v2,
                entities=[{"type": "ID", "start": 2, "end": 14, "text": "SF12"}],
            ),
            "is not text",
        ),
        (
            _mutated(
                examples.prediction_event_v2,
                entities=[{"type": "ID", "start": 2, "end": 99, "text": "SF1234567890"}],
            ),
            "lie in",
        ),
        (
            _mutated(
                examples.prediction_event_v2,
                entities=[{"type": "id", "start": 2, "end": 14, "text": "SF1234567890"}],
            ),
            "type",
        ),
        (_mutated(examples.prediction_event, colour="red"), "Extra inputs"),
        (_mutated(examples.prediction_event, confidence=1.5), "confidence"),
        (_mutated(examples.prediction_event, device_id="a/+/b"), "device_id"),
        (_mutated(examples.prediction_event, label="其他"), "first topk label"),
        (_mutated(examples.prediction_event, text=""), "text"),
    ],
)
def test_prediction_rejections_name_the_reason(raw: bytes, fragment: str):
    with pytest.raises(ValidationError) as info:
        parse_prediction(raw)
    assert fragment in info.value.reason


def test_non_bytes_are_rejected():
    with pytest.raises(ValidationError, match="expected bytes"):
        parse_prediction("{}")  # type: ignore[arg-type]


def test_status_kind_requires_its_payload():
    with pytest.raises(ValidationError, match="requires the 'ota' field"):
        parse_device_status(_mutated(examples.device_status, kind="ota"))


def test_labeled_sample_label_must_be_teacher_argmax():
    with pytest.raises(ValidationError, match="argmax"):
        parse_labeled_sample(_mutated(examples.labeled_sample, label="其他"))


def test_labeled_sample_written_with_the_old_spelling_still_parses():
    sample = examples.labeled_sample()
    body = json.loads(sample.to_bytes())
    assert "labeled_at" in body
    body["labelled_at"] = body.pop("labeled_at")
    old = parse_labeled_sample(json.dumps(body).encode())
    assert old == sample and b"labelled_at" not in old.to_bytes()


def test_manifest_profile_must_be_distributions():
    body = json.loads(examples.release_manifest().to_bytes())
    body["reference_profile"]["confidence"]["frequencies"] = [0.5, 0.5, 0.5, 0.5]
    with pytest.raises(ValidationError, match="frequencies sums to"):
        parse_release_manifest(json.dumps(body).encode())


def test_manifest_signing_payload_excludes_signature_and_is_canonical():
    manifest = examples.release_manifest()
    signed = manifest.model_copy(update={"signature": "A" * 86 + "=="})
    assert signed.signing_payload() == manifest.signing_payload()
    assert parse_release_manifest(signed.to_bytes()).signing_payload() == (
        manifest.signing_payload()
    )
    assert b" " not in manifest.signing_payload()


def test_manifest_rejects_malformed_signature():
    with pytest.raises(ValidationError, match="signature"):
        parse_release_manifest(_mutated(examples.release_manifest, signature="not-base64"))


def test_ops_command_dispatches_on_command():
    assert isinstance(parse_ops_command(examples.rollout_command().to_bytes()), Rollout)
    halt = b'{"command":"halt","command_id":"c2","issued_by":"ops","ts":1.0}'
    assert parse_ops_command(halt).command == "halt"
    with pytest.raises(ValidationError, match="command"):
        parse_ops_command(b'{"command":"reboot","command_id":"c3","issued_by":"x","ts":1}')


def test_redistill_max_steps_is_bounded():
    base = b'{"command":"redistill","command_id":"c","issued_by":"ops","ts":1,"max_steps":'
    assert parse_ops_command(base + b"20000}").max_steps == 20_000
    for bad in (b"0}", b"20001}", b"1000000000000}"):
        with pytest.raises(ValidationError, match="max_steps"):
            parse_ops_command(base + bad)


@pytest.mark.parametrize(
    ("make", "parser", "field"),
    [
        (examples.release_manifest, parse_release_manifest, "version"),
        (examples.rollout_command, parse_ops_command, "version"),
    ],
)
def test_release_versions_start_at_one(make, parser, field):
    """Version 0 is the factory model devices ship with, never a release."""
    with pytest.raises(ValidationError, match=field):
        parser(_mutated(make, **{field: 0}))
    halt = b'{"command":"halt","command_id":"c","issued_by":"ops","ts":1,"version":0}'
    with pytest.raises(ValidationError, match="version"):
        parse_ops_command(halt)


@pytest.mark.parametrize(
    ("make", "parser", "field"),
    [
        (examples.release_manifest, parse_release_manifest, "version"),
        (examples.rollout_command, parse_ops_command, "version"),
        (examples.prediction_event, parse_prediction, "model_version"),
    ],
)
def test_versions_fit_the_uint32_the_device_stores(make, parser, field):
    assert getattr(parser(_mutated(make, **{field: 2**32 - 1})), field) == 2**32 - 1
    with pytest.raises(ValidationError, match=field):
        parser(_mutated(make, **{field: 2**32}))


def test_rollout_grant_names_one_audience_and_is_signed_only_when_set():
    from contract.schemas.release import RolloutGrant

    plain = examples.release_manifest(3)
    assert b"rollout" not in plain.signing_payload()  # manifests signed before it still verify
    grant = RolloutGrant(rollout_id="3-canary-1", group="canary", issued=1.0, expires=2.0)
    bound = plain.model_copy(update={"rollout": grant})
    assert b'"rollout":{' in bound.signing_payload()
    assert parse_release_manifest(bound.to_bytes()) == bound
    for bad in (
        {"group": "canary", "device_id": "dev-1"},
        {},
        {"group": "canary", "expires": 1.0},
    ):
        fields = {"rollout_id": "x", "issued": 1.0, "expires": 2.0, **bad}
        with pytest.raises(ValueError, match="rollout grant"):
            RolloutGrant(**fields)


def test_exported_json_schemas_are_current():
    """Regenerate with ``python -m services.schema_export`` when this fails."""
    for name, text in render().items():
        path = DEFAULT_DIR / name
        assert path.is_file(), f"{path} missing; run python -m services.schema_export"
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale; re-export"
