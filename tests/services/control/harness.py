"""``fleet control run`` as a subprocess, and plain HTTP calls to it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.services.service_process import ServiceProcess, free_port


def control_process(tmp_path: Path, **settings: Any) -> ServiceProcess:
    port = free_port()
    values = {
        "port": port,
        "releases_dir": tmp_path / "releases",
        "token_file": tmp_path / "keys" / "ops.token",
        "release_public_key": tmp_path / "keys" / "release.pub",
        **settings,
    }
    env = {f"FLEET_CONTROL_{k.upper()}": str(v) for k, v in values.items()}
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
