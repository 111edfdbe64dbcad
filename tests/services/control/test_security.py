"""The control API's read access, odd tokens and response headers."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestServer

from services.control.service import create_app
from tests.services.control.conftest import ALERTS_TOKEN, TOKEN, auth, call, read_auth

READS = ("/api/v1/releases", "/api/v1/commands", "/api/v1/rollouts", "/api/v1/alerts",
         "/api/v1/status")  # fmt: skip


@pytest.mark.parametrize("path", READS)
def test_reads_need_the_read_or_the_ops_token(control_factory, path) -> None:
    control = control_factory()
    assert call(control, "GET", path).status == 401
    assert call(control, "GET", path, headers=auth("wrong")).status == 401
    assert call(control, "GET", path, headers=auth(ALERTS_TOKEN)).status == 401
    assert call(control, "GET", path, headers=read_auth()).status == 200
    assert call(control, "GET", path, headers=auth()).status == 200


def test_the_read_token_cannot_send_commands(control_factory) -> None:
    control = control_factory()
    answer = call(control, "POST", "/api/v1/halt", json={}, headers=read_auth())
    assert answer.status == 401 and control.sink.commands == []


def _raw_request(control, head: bytes) -> bytes:
    """Send ``head`` as the request's bytes (what a client library would refuse to send)."""

    async def go() -> bytes:
        server = TestServer(create_app(control))
        await server.start_server()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(head)
            await writer.drain()
            answer = await reader.read(65536)
            writer.close()
            return answer
        finally:
            await server.close()

    return asyncio.run(go())


@pytest.mark.parametrize(
    "token",
    [b"t\xc3\xb6ken", b"\xff\xfe\xfd", "токен".encode(), b"test-ops-token\xc2\xa0"],
    ids=["utf8-latin", "not-utf8", "cyrillic", "nbsp-suffix"],
)
def test_a_non_ascii_token_is_401_not_500(control_factory, token) -> None:
    control = control_factory()
    for method, path in (("POST", "/api/v1/halt"), ("GET", "/api/v1/commands")):
        head = (
            (
                f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                "Content-Type: application/json\r\nConnection: close\r\n"
            ).encode()
            + b"Authorization: Bearer "
            + token
            + b"\r\n\r\n{}"
        )
        status_line = _raw_request(control, head).split(b"\r\n", 1)[0]
        assert status_line.startswith(b"HTTP/1.1 401"), status_line
    assert control.sink.commands == []


def test_a_non_ascii_token_in_the_login_form_is_refused(control_factory) -> None:
    control = control_factory()
    answer = call(control, "POST", "/login", data={"token": "tökén"})
    assert answer.status == 401 and "refused" in answer.text


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    [
        ("GET", "/", {}),
        ("GET", "/api/v1/commands", {"headers": read_auth()}),
        ("GET", "/api/v1/commands", {}),
        ("POST", "/api/v1/halt", {"json": {}, "headers": auth()}),
        ("POST", "/login", {"data": {"token": TOKEN}}),
        ("GET", "/nowhere", {}),
        ("GET", "/static/console.css", {}),
        ("GET", "/metrics", {}),
    ],
    ids=["page", "read", "401", "202", "303", "404", "static", "metrics"],
)
def test_every_answer_has_the_security_headers(control_factory, method, path, kwargs) -> None:
    answer = call(control_factory(), method, path, **kwargs)
    headers = answer.headers
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"
