"""``fleet control run`` as a subprocess, and plain HTTP calls to it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks.harness.service_process import ServiceProcess, free_port


def control_process(
    tmp_path: Path, kafka_bootstrap: str | None = None, **settings: Any
) -> ServiceProcess:
    """``kafka_bootstrap``: another Kafka address than the stack's (e.g. one nobody serves)."""
    port = settings.pop("port", None) or free_port()
    values = {
        "port": port,
        "releases_dir": tmp_path / "releases",
        "token_file": tmp_path / "keys" / "ops.token",
        "read_token_file": tmp_path / "keys" / "read.token",
        "alerts_token_file": tmp_path / "keys" / "alerts.token",
        "prometheus_url": f"http://127.0.0.1:{free_port()}",  # none unless a test gives one
        "release_public_key": tmp_path / "keys" / "release.pub",
        **settings,
    }
    env = {f"FLEET_CONTROL_{k.upper()}": str(v) for k, v in values.items()}
    if kafka_bootstrap is not None:
        env["FLEET_STACK__KAFKA__BOOTSTRAP"] = kafka_bootstrap
    return ServiceProcess(["control", "run"], env, tmp_path / "control.log", port)


def http(
    port: int, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of one request to the service."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, kind = (
                response.status,
                response.read(),
                response.headers.get_content_type(),
            )
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get_content_type()
    text = raw.decode()
    return status, json.loads(text) if kind == "application/json" else text


def signed_in_page(port: int, token: str, path: str = "/") -> tuple[int, str]:
    """(status, HTML) of a page after signing in with ``token`` (the session cookie)."""
    import http.cookiejar
    import urllib.parse

    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
    )
    base = f"http://127.0.0.1:{port}"
    form = urllib.parse.urlencode({"token": token}).encode()
    try:
        with opener.open(f"{base}/login", data=form, timeout=30) as response:
            response.read()  # (the redirect to / is followed)
        with opener.open(f"{base}{path}", timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
