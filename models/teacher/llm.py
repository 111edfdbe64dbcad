"""An optional LLM labeler: ask an OpenAI-compatible chat-completions endpoint (the DeepSeek
API, a local vLLM or llama.cpp server, ...) for exactly one label from a fixed label set.

``POST {base_url}/chat/completions`` with ``model``, ``messages`` and ``temperature: 0``. The
reply must be exactly one of the labels (surrounding whitespace aside); anything else is asked
again, and after ``max_attempts`` the labeler raises :class:`LabelerError` naming the last
reply. Malformed bodies, timeouts, connection errors, 429 and 5xx are retried with exponential
backoff; other HTTP errors (401, 404, ...) fail at once, since asking again cannot fix them.

The HTTP client is ``httpx`` when installed, else the standard library's ``urllib``.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from models.errors import ConfigError, ModelsError


class LabelerError(ModelsError):
    """No valid label could be had for a text (bad replies, timeouts, HTTP errors)."""


class RetryableError(LabelerError):
    """A failure worth retrying: timeout, connection error, 429, 5xx or a non-JSON body."""


class Labeler(ABC):
    """Gives each text one label from ``labels``."""

    labels: tuple[str, ...]

    @abstractmethod
    def label(self, text: str) -> str:
        """Called once per text; returns one of ``labels`` or raises ``LabelerError``."""

    def label_many(self, texts: Sequence[str]) -> list[str]:
        """Label texts one by one (override to batch)."""
        return [self.label(t) for t in texts]


class StaticLabeler(Labeler):
    """In-memory double: labels from a function of the text (e.g. a keyword rule)."""

    def __init__(self, labels: Sequence[str], rule: Callable[[str], str]) -> None:
        self.labels = tuple(labels)
        self._rule = rule

    def label(self, text: str) -> str:
        answer = self._rule(text)
        if answer not in self.labels:
            raise LabelerError(f"rule gave {answer!r}, not one of {list(self.labels)}")
        return answer


class ChatTransport(ABC):
    """Posts one JSON request and returns the decoded JSON reply."""

    @abstractmethod
    def post_json(
        self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: float
    ) -> Any:
        """Called once per attempt. Raises ``RetryableError`` for timeouts, connection errors,
        429, 5xx and a body that is not JSON; ``LabelerError`` for other HTTP errors."""


class HttpxTransport(ChatTransport):
    def post_json(
        self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: float
    ) -> Any:
        import httpx

        try:
            response = httpx.post(url, json=dict(payload), headers=dict(headers), timeout=timeout)
        except httpx.TimeoutException as exc:
            raise RetryableError(f"timed out after {timeout}s: {url}") from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"cannot reach {url}: {exc}") from exc
        _check_status(response.status_code, url, response.text)
        try:
            return response.json()
        except ValueError as exc:
            raise RetryableError(f"{url} answered with non-JSON: {response.text[:200]!r}") from exc


class UrllibTransport(ChatTransport):
    def post_json(
        self, url: str, payload: Mapping[str, Any], headers: Mapping[str, str], timeout: float
    ) -> Any:
        import socket
        import urllib.error
        import urllib.request

        body = json.dumps(payload).encode("utf-8")
        request = urllib.request.Request(
            url, data=body, method="POST", headers={"Content-Type": "application/json", **headers}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            _check_status(exc.code, url, exc.read().decode("utf-8", "replace"))
            raise LabelerError(f"{url}: HTTP {exc.code}") from exc
        except TimeoutError as exc:
            raise RetryableError(f"timed out after {timeout}s: {url}") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise RetryableError(f"timed out after {timeout}s: {url}") from exc
            raise RetryableError(f"cannot reach {url}: {exc.reason}") from exc
        try:
            return json.loads(text)
        except ValueError as exc:
            raise RetryableError(f"{url} answered with non-JSON: {text[:200]!r}") from exc


def _check_status(status: int, url: str, body: str) -> None:
    if status == 429 or status >= 500:
        raise RetryableError(f"{url}: HTTP {status}")
    if status >= 400:
        raise LabelerError(f"{url}: HTTP {status}: {body[:200]}")


def default_transport() -> ChatTransport:
    """``httpx`` when it is installed (it usually is, pulled in by other packages), else urllib."""
    try:
        import httpx  # noqa: F401
    except ImportError:
        return UrllibTransport()
    return HttpxTransport()


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask."""

    base_url: str  # e.g. "https://api.deepseek.com" or "http://127.0.0.1:8000/v1"
    model: str = "deepseek-chat"  # the endpoint's model name
    api_key: str | None = None  # sent as "Authorization: Bearer ..." when set
    timeout_s: float = 30.0  # per request
    max_attempts: int = 3  # requests per text before giving up
    backoff_s: float = 1.0  # wait before the 2nd attempt; doubles after each failure
    instructions: str = (
        "You label logistics messages. Answer with exactly one label from the list and "
        "nothing else: no punctuation, no explanation."
    )

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"base_url must start with http:// or https://, got {self.base_url!r}"
            )
        if self.max_attempts < 1 or self.timeout_s <= 0 or self.backoff_s < 0:
            raise ConfigError("need max_attempts >= 1, timeout_s > 0, backoff_s >= 0")


def parse_reply(reply: Any, labels: Sequence[str]) -> str | None:
    """The label in a chat-completions reply, or None unless the content is exactly a label."""
    try:
        content = reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(content, str):
        return None
    answer = content.strip()
    return answer if answer in labels else None


class ChatLabeler(Labeler):
    """Labels texts by asking a chat-completions endpoint, strictly parsed, with retries."""

    def __init__(
        self,
        config: LLMConfig,
        labels: Sequence[str],
        transport: ChatTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if len(labels) < 2 or len(set(labels)) != len(labels):
            raise ConfigError(f"need at least 2 distinct labels, got {list(labels)}")
        self.config = config
        self.labels = tuple(labels)
        self._transport = transport or default_transport()
        self._sleep = sleep
        self._url = config.base_url.rstrip("/") + "/chat/completions"

    def request(self, text: str) -> dict[str, Any]:
        """The chat-completions payload for ``text``."""
        listing = "\n".join(f"- {label}" for label in self.labels)
        return {
            "model": self.config.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": f"{self.config.instructions}\nLabels:\n{listing}"},
                {"role": "user", "content": text},
            ],
        }

    def label(self, text: str) -> str:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key:
            headers["Authorization"] = f"Bearer {self.config.api_key}"
        problem, unreachable = "no attempt made", False
        for attempt in range(self.config.max_attempts):
            if attempt:
                self._sleep(self.config.backoff_s * 2 ** (attempt - 1))
            try:
                reply = self._transport.post_json(
                    self._url, self.request(text), headers, self.config.timeout_s
                )
            except RetryableError as exc:
                problem, unreachable = str(exc), True
                continue
            answer = parse_reply(reply, self.labels)
            if answer is not None:
                return answer
            problem, unreachable = f"reply is not exactly one label: {_content(reply)!r}", False
        # RetryableError when the endpoint itself failed last (worth asking again later)
        tries = self.config.max_attempts
        raise (RetryableError if unreachable else LabelerError)(
            f"no valid label from {self._url} after {tries} attempt{'s' * (tries != 1)} "
            f"(labels {list(self.labels)}); last problem: {problem}"
        )


def _content(reply: Any) -> Any:
    try:
        return reply["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        return reply
