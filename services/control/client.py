"""The HTTP client ``fleet ops`` uses: the same endpoints, token and answers as the page."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from services.errors import ServiceError


class ControlClientError(ServiceError):
    """The control API refused the request (``status`` 400/401/503) or cannot be reached
    (``status`` None)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ControlClient:
    def __init__(
        self, base_url: str, token: str, operator: str | None = None, timeout_s: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token, self.operator, self.timeout_s = token, operator, timeout_s

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if self.operator:
            headers["X-Fleet-Operator"] = self.operator
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            raise ControlClientError(f"HTTP {exc.code}: {_error(exc.read())}", exc.code) from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ControlClientError(f"cannot reach the control API at {url}: {reason}") from exc

    def send(self, command: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """POST one command; the 202 answer (``command_id`` and the stored command)."""
        return self._call("POST", f"/api/v1/{command}", arguments)

    def releases(self) -> dict[str, Any]:
        return self._call("GET", "/api/v1/releases")

    def commands(self, limit: int | None = None) -> dict[str, Any]:
        return self._call("GET", "/api/v1/commands" + (f"?limit={limit}" if limit else ""))


def _error(body: bytes) -> str:
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace")[:300]
