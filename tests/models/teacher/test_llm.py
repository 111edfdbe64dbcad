"""The LLM labeller against a real local HTTP server speaking chat completions."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.errors import ConfigError
from models.teacher.llm import (
    ChatLabeller,
    HttpxTransport,
    LabellerError,
    LLMConfig,
    StaticLabeller,
    UrllibTransport,
)

LABELS = ["运输中", "已签收", "异常"]


@dataclass
class Script:
    """What the fake endpoint answers, one step per request; the last step repeats."""

    steps: list[tuple[str, object]]
    requests: list[dict] = field(default_factory=list)
    headers: list[dict] = field(default_factory=list)


def _reply(content: object) -> bytes:
    body = {"id": "x", "object": "chat.completion", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
    ]}  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


@pytest.fixture
def chat_server_factory() -> Iterator[Callable[[list[tuple[str, object]]], tuple[str, Script]]]:
    servers: list[ThreadingHTTPServer] = []

    def make(steps: list[tuple[str, object]]) -> tuple[str, Script]:
        script = Script(steps)

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                script.requests.append(json.loads(self.rfile.read(length)))
                script.headers.append(dict(self.headers))
                index = min(len(script.requests), len(script.steps)) - 1
                kind, value = script.steps[index]
                if self.path != "/v1/chat/completions":
                    kind, value = "status", 404
                if kind == "sleep":
                    time.sleep(float(value))  # type: ignore[arg-type]
                    kind, value = "reply", LABELS[0]
                if kind == "status":
                    self.send_response(int(value))  # type: ignore[call-overload]
                    self.end_headers()
                    return
                body = _reply(value) if kind == "reply" else str(value).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1", script

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


TRANSPORTS = [pytest.param(HttpxTransport, id="httpx"), pytest.param(UrllibTransport, id="urllib")]


def _labeller(base: str, transport, **kwargs) -> ChatLabeller:
    config = LLMConfig(base_url=base, model="deepseek-chat", api_key="k", backoff_s=0.01, **kwargs)
    return ChatLabeller(config, LABELS, transport=transport())


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_valid_reply_gives_the_label_and_the_request_follows_the_protocol(
    chat_server_factory, transport
) -> None:
    base, script = chat_server_factory([("reply", " 已签收\n")])
    assert _labeller(base, transport).label("快件已签收，签收人：本人") == "已签收"
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
    assert _labeller(base, transport).label("包裹破损") == "异常"
    assert len(script.requests) == 3


def test_never_a_valid_label_is_a_clear_error(chat_server_factory) -> None:
    base, script = chat_server_factory([("reply", "probably 异常")])
    with pytest.raises(LabellerError, match=r"after 3 attempts.*probably 异常"):
        _labeller(base, HttpxTransport).label("包裹破损")
    assert len(script.requests) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_is_retried_then_reported(chat_server_factory, transport) -> None:
    base, script = chat_server_factory([("sleep", 1.0), ("reply", "运输中")])
    assert _labeller(base, transport, timeout_s=0.2).label("在途") == "运输中"
    assert len(script.requests) == 2
    base, _ = chat_server_factory([("sleep", 1.0)])
    with pytest.raises(LabellerError, match="timed out"):
        _labeller(base, transport, timeout_s=0.2, max_attempts=2).label("在途")


def test_server_errors_are_retried_but_client_errors_are_not(chat_server_factory) -> None:
    base, script = chat_server_factory([("status", 503), ("reply", "运输中")])
    assert _labeller(base, UrllibTransport).label("在途") == "运输中"
    assert len(script.requests) == 2
    base, script = chat_server_factory([("status", 401)])
    with pytest.raises(LabellerError, match="401"):
        _labeller(base, HttpxTransport).label("在途")
    assert len(script.requests) == 1


def test_backoff_doubles_between_attempts(chat_server_factory) -> None:
    base, _ = chat_server_factory([("reply", "?")])
    waits: list[float] = []
    config = LLMConfig(base_url=base, backoff_s=0.5, max_attempts=4)
    with pytest.raises(LabellerError):
        ChatLabeller(config, LABELS, transport=UrllibTransport(), sleep=waits.append).label("x")
    assert waits == [0.5, 1.0, 2.0]


def test_bad_configuration_is_rejected() -> None:
    with pytest.raises(ConfigError, match="http"):
        LLMConfig(base_url="api.deepseek.com")
    with pytest.raises(ConfigError, match="distinct"):
        ChatLabeller(LLMConfig(base_url="http://x"), ["a", "a"])


def test_static_double_checks_its_rule() -> None:
    double = StaticLabeller(LABELS, lambda t: "异常" if "破损" in t else "运输中")
    assert double.label_many(["包裹破损", "在途"]) == ["异常", "运输中"]
    with pytest.raises(LabellerError):
        StaticLabeller(LABELS, lambda t: "other").label("x")
