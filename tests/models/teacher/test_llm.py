"""The LLM labeler against a real local HTTP server speaking chat completions."""

from __future__ import annotations

import pytest

from models.errors import ConfigError
from models.teacher.llm import (
    ChatLabeler,
    HttpxTransport,
    LabelerError,
    LLMConfig,
    StaticLabeler,
    UrllibTransport,
)
from tests.models.teacher.conftest import LABELS

TRANSPORTS = [pytest.param(HttpxTransport, id="httpx"), pytest.param(UrllibTransport, id="urllib")]


def _labeler(base: str, transport, **kwargs) -> ChatLabeler:
    config = LLMConfig(base_url=base, model="deepseek-chat", api_key="k", backoff_s=0.01, **kwargs)
    return ChatLabeler(config, LABELS, transport=transport())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_valid_reply_gives_the_label_and_the_request_follows_the_protocol(
    chat_server_factory, transport
) -> None:
    base, script = chat_server_factory([("reply", " 已签收\n")])
    assert _labeler(base, transport).label("快件已签收，签收人：本人") == "已签收"
    (request,) = script.requests
    assert request["model"] == "deepseek-chat" and request["temperature"] == 0
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    assert request["messages"][1]["content"] == "快件已签收，签收人：本人"
    assert all(label in request["messages"][0]["content"] for label in LABELS)
    assert script.headers[0]["Authorization"] == "Bearer k"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_malformed_reply_is_retried(chat_server_factory, transport) -> None:
    base, script = chat_server_factory(
        [("reply", "The label is 异常."), ("raw", "{not json"), ("reply", "异常")]
    )
    assert _labeler(base, transport).label("包裹破损") == "异常"
    assert len(script.requests) == 3


def test_never_a_valid_label_is_a_clear_error(chat_server_factory) -> None:
    base, script = chat_server_factory([("reply", "probably 异常")])
    with pytest.raises(LabelerError, match=r"after 3 attempts.*probably 异常"):
        _labeler(base, HttpxTransport).label("包裹破损")
    assert len(script.requests) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_is_retried_then_reported(chat_server_factory, transport) -> None:
    base, script = chat_server_factory([("sleep", 1.0), ("reply", "运输中")])
    assert _labeler(base, transport, timeout_s=0.2).label("在途") == "运输中"
    assert len(script.requests) == 2
    base, _ = chat_server_factory([("sleep", 1.0)])
    with pytest.raises(LabelerError, match="timed out"):
        _labeler(base, transport, timeout_s=0.2, max_attempts=2).label("在途")


def test_server_errors_are_retried_but_client_errors_are_not(chat_server_factory) -> None:
    base, script = chat_server_factory([("status", 503), ("reply", "运输中")])
    assert _labeler(base, UrllibTransport).label("在途") == "运输中"
    assert len(script.requests) == 2
    base, script = chat_server_factory([("status", 401)])
    with pytest.raises(LabelerError, match="401"):
        _labeler(base, HttpxTransport).label("在途")
    assert len(script.requests) == 1


def test_backoff_doubles_between_attempts(chat_server_factory) -> None:
    base, _ = chat_server_factory([("reply", "?")])
    waits: list[float] = []
    config = LLMConfig(base_url=base, backoff_s=0.5, max_attempts=4)
    with pytest.raises(LabelerError):
        ChatLabeler(config, LABELS, transport=UrllibTransport(), sleep=waits.append).label("x")
    assert waits == [0.5, 1.0, 2.0]


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ConfigError, match="http"):
        LLMConfig(base_url="api.deepseek.com")
    with pytest.raises(ConfigError, match="distinct"):
        ChatLabeler(LLMConfig(base_url="http://x"), ["a", "a"])


def test_static_double_checks_its_rule() -> None:
    double = StaticLabeler(LABELS, lambda t: "异常" if "破损" in t else "运输中")
    assert double.label_many(["包裹破损", "在途"]) == ["异常", "运输中"]
    with pytest.raises(LabelerError):
        StaticLabeler(LABELS, lambda t: "other").label("x")
