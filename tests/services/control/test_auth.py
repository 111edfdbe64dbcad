"""The ops token file and the bearer header."""

from __future__ import annotations

import stat

import pytest

from services.control.auth import (
    TokenError,
    bearer,
    load_or_create_token,
    read_token,
    token_matches,
)


def test_token_is_created_once_private_and_then_reused(tmp_path) -> None:
    path = tmp_path / "keys" / "ops.token"
    token = load_or_create_token(path)
    assert len(token) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_token(path) == token == read_token(path)
    assert load_or_create_token(tmp_path / "other.token") != token


def test_an_empty_or_unreadable_token_file_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenError, match="empty"):
        read_token(tmp_path / "empty")
    with pytest.raises(TokenError, match="cannot read"):
        read_token(tmp_path / "missing")


def test_bearer_header_parsing_and_comparison() -> None:
    assert bearer("Bearer abc") == "abc" and bearer("bearer  abc ") == "abc"
    assert bearer(None) is None and bearer("Basic abc") is None and bearer("Bearer ") is None
    assert token_matches("abc", "abc")
    assert not token_matches("abd", "abc") and not token_matches(None, "abc")
