"""Control API fixtures: the app on in-memory doubles, and a release in a store."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from contract.schemas import ReleaseManifest
from contract.schemas.examples import release_manifest
from services.control.auth import Tokens
from services.control.metrics import ControlMetrics
from services.control.releases import MemoryReleaseFeed
from services.control.service import Control, create_app
from services.control.sink import MemoryCommandSink
from services.releases.store import ReleaseStore

TOKEN = "test-ops-token"
READ_TOKEN = "test-read-token"
ALERTS_TOKEN = "test-alerts-token"


@dataclass
class Answer:
    status: int
    text: str
    headers: dict[str, str]


def call(control: Control, method: str, path: str, **kwargs: Any) -> Answer:
    """One request against a fresh server of the app (redirects are not followed)."""
    return calls(control, [(method, path, kwargs)])[-1]


def calls(control: Control, requests: list[tuple[str, str, dict[str, Any]]]) -> list[Answer]:
    """Several requests in turn by one client (its cookie jar keeps a page session)."""

    async def go() -> list[Answer]:
        answers = []
        async with TestClient(TestServer(create_app(control))) as client:
            for method, path, kwargs in requests:
                response = await client.request(method, path, allow_redirects=False, **kwargs)
                answers.append(
                    Answer(response.status, await response.text(), dict(response.headers))
                )
        return answers

    return asyncio.run(go())


def read_auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {READ_TOKEN}"}


def auth(token: str = TOKEN, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@pytest.fixture
def control_factory(tmp_path: Path) -> Callable[..., Control]:
    def make(**overrides: Any) -> Control:
        values: dict[str, Any] = {
            "sink": MemoryCommandSink(),
            "feed": MemoryReleaseFeed(),
            "store": ReleaseStore(tmp_path / "releases"),
            "tokens": Tokens(ops=TOKEN, read=READ_TOKEN, alerts=ALERTS_TOKEN),
            "metrics": ControlMetrics.create(),
            "recent_limit": 5,
            **overrides,
        }
        return Control(**values)

    return make


def release(version: int, blob: bytes | None = None) -> tuple[ReleaseManifest, bytes]:
    """A manifest whose sha256 and size match ``blob`` (the store checks them)."""
    blob = blob if blob is not None else f"blob {version}".encode()
    manifest = release_manifest(version).model_copy(
        update={"sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob), "signature": None}
    )
    return manifest, blob
