"""A fake OpenAI-compatible chat-completions endpoint (a real local HTTP server) for the LLM
labeler's tests: ``chat_server_factory(steps) -> (base_url, script)``; each request gets the
next scripted step, the last one repeats. Steps: ``("reply", content)``, ``("status", code)``,
``("sleep", seconds)`` (then a label), ``("rule", text -> content)``, or a raw body."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

LABELS = ["运输中", "已签收", "异常"]  # label set of the fake chat-completions endpoint


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
                if kind == "rule":  # the reply depends on the text: value(text) -> content
                    kind, value = "reply", value(script.requests[-1]["messages"][1]["content"])  # type: ignore[operator]
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
