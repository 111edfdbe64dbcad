"""The alerts Alertmanager sends to the control API (its webhook receiver,
``POST /api/v1/alerts`` with the ``alerts`` token): the latest state of each alert, by
fingerprint, for the page and ``fleet status``. Kept in memory, bounded; Alertmanager repeats
firing groups every ``repeat_interval``, so a restarted control API learns them again.

The payload is Alertmanager's webhook format, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from contract.errors import ValidationError

MAX_ALERTS_PER_MESSAGE = 1000


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WebhookAlert(_Model):
    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(max_length=64)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=64)
    startsAt: str = Field(max_length=64)
    endsAt: str = Field(default="", max_length=64)
    fingerprint: str = Field(max_length=64)


class WebhookMessage(_Model):
    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str = Field(max_length=256)
    groupKey: str = Field(max_length=2048)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    alerts: list[WebhookAlert] = Field(max_length=MAX_ALERTS_PER_MESSAGE)


def parse_webhook(raw: bytes) -> WebhookMessage:
    try:
        return WebhookMessage.model_validate_json(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ValidationError(f"not an Alertmanager v4 webhook: {where}: {first['msg']}") from exc


class AlertBook:
    """Latest state per alert fingerprint, at most ``limit`` (the oldest updates go first)."""

    def __init__(self, limit: int = 200) -> None:
        self.limit = limit
        self._alerts: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.messages = 0  # webhook messages received

    def receive(self, message: WebhookMessage, now: float | None = None) -> int:
        """Record every alert of ``message``; returns how many."""
        received = time.time() if now is None else now
        with self._lock:
            self.messages += 1
            for alert in message.alerts:
                self._alerts.pop(alert.fingerprint, None)  # re-insert: newest last
                self._alerts[alert.fingerprint] = {
                    "name": alert.labels.get("alertname", "?"),
                    "state": alert.status,
                    "severity": alert.labels.get("severity", ""),
                    "summary": alert.annotations.get("summary")
                    or alert.annotations.get("description", ""),
                    "labels": dict(alert.labels),
                    "starts_at": alert.startsAt,
                    "ends_at": alert.endsAt if alert.status == "resolved" else "",
                    "received_at": received,
                    "group_key": message.groupKey,
                    "fingerprint": alert.fingerprint,
                }
            while len(self._alerts) > self.limit:
                self._alerts.pop(next(iter(self._alerts)))
        return len(message.alerts)

    def rows(self) -> list[dict[str, Any]]:
        """Firing alerts first, then resolved ones; newest update first within each."""
        with self._lock:
            rows = list(reversed(self._alerts.values()))
        return sorted(rows, key=lambda r: r["state"] != "firing")
