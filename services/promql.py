"""A small client of Prometheus' HTTP API (instant and range queries, active alerts), for the
tools that read the services' metrics back: ``fleet status``, the ops page's charts, the
demo's summary and plots. The official Python client only exports metrics; reading them is
two GET endpoints, so this stays stdlib."""

from __future__ import annotations

import json
import math
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from services.errors import ServiceError


class PrometheusError(ServiceError):
    """Prometheus cannot be reached, or refused a query (the message says which)."""


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    points: list[tuple[float, float]]  # (Unix time, value), oldest first


class Prometheus:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(
                f"{self.url}{path}{query}", timeout=self.timeout_s
            ) as response:
                body = json.load(response)
        except (OSError, ValueError) as exc:
            raise PrometheusError(f"Prometheus at {self.url} did not answer {path}: {exc}") from exc
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus {path}: {body.get('error', body)}")
        data: dict[str, Any] = body["data"]
        return data

    def query(self, expr: str, at: float | None = None) -> list[tuple[dict[str, str], float]]:
        params = {"query": expr}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._get("/api/v1/query", params)
        return [(r["metric"], float(r["value"][1])) for r in data["result"]]

    def scalar(self, expr: str, at: float | None = None) -> float | None:
        rows = self.query(expr, at)
        return rows[0][1] if rows else None

    def query_range(self, expr: str, start: float, end: float, step_s: float) -> list[Series]:
        """Points every ``step_s`` (whole seconds, at least 1) at multiples of the step, as
        Grafana aligns them: a past point keeps its time and value from one call to the next,
        so a chart drawn twice shows the same history (an unaligned grid shifts with ``start``
        and can fall into the gaps a failed scrape leaves between samples)."""
        step = max(round(step_s), 1)
        params = {
            "query": expr,
            "start": str(math.floor(start / step) * step),
            "end": str(math.floor(end / step) * step),
            "step": f"{step}s",
        }
        data = self._get("/api/v1/query_range", params)
        return [
            Series(r["metric"], [(float(t), float(v)) for t, v in r["values"]])
            for r in data["result"]
        ]

    def reload(self) -> None:
        """Load the rule files (a stack started before they existed has none)."""
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            urllib.request.urlopen(request, timeout=self.timeout_s).close()
        except OSError as exc:
            raise PrometheusError(f"Prometheus reload failed: {exc}") from exc

    def alert_rules(self) -> int:
        groups = self._get("/api/v1/rules", {"type": "alert"})["groups"]
        return sum(len(g["rules"]) for g in groups)

    def alerts(self) -> list[tuple[str, str, dict[str, str]]]:
        """(alert name, state pending|firing, labels) of every active alert."""
        return [
            (a["labels"].get("alertname", "?"), a["state"], a["labels"])
            for a in self._get("/api/v1/alerts")["alerts"]
        ]
