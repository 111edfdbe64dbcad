"""Property tests: no input whatsoever makes a parser raise anything but ValidationError."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contract.errors import ValidationError
from contract.schemas import (
    parse_device_status,
    parse_label_request,
    parse_labeled_sample,
    parse_ops_command,
    parse_prediction,
    parse_release_manifest,
)

PARSERS = [
    parse_prediction,
    parse_device_status,
    parse_label_request,
    parse_labeled_sample,
    parse_release_manifest,
    parse_ops_command,
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["dev-0001", "运输中", "schema_version", "halt", "ota"]),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(
            st.sampled_from(
                ["schema_version", "device_id", "seq", "text", "label", "topk", "command", "kind"]
            )
            | st.text(max_size=8),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


def _only_validation_error(parser: Callable[[bytes], Any], raw: bytes) -> None:
    try:
        parser(raw)
    except ValidationError as exc:
        assert exc.reason, "a rejection must say why"


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=512))
def test_arbitrary_bytes(parser: Callable[[bytes], Any], raw: bytes):
    _only_validation_error(parser, raw)


@pytest.mark.parametrize("parser", PARSERS)
@settings(max_examples=150, deadline=None)
@given(value=json_values)
def test_arbitrary_json(parser: Callable[[bytes], Any], value: Any):
    _only_validation_error(parser, json.dumps(value, ensure_ascii=False).encode())


@pytest.mark.parametrize("parser", PARSERS)
def test_deep_nesting(parser: Callable[[bytes], Any]):
    _only_validation_error(parser, b"[" * 20_000 + b"]" * 20_000)
    _only_validation_error(parser, b'{"a":' * 5_000 + b"1" + b"}" * 5_000)
