"""``fleet status``: the report's parts from fake sources, with every source down (a clear
line per part, no traceback), and against the live stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest
from rich.console import Console

from benchmarks.harness.service_process import free_port
from services.errors import ServiceError
from services.promql import Prometheus, PrometheusError
from services.settings import REPO_ROOT
from services.status.render import render
from services.status.report import collect, sparkline
from tests.services.control.test_page import rollout_record


class FakePrometheus(Prometheus):
    """Answers instant queries from ``results`` (query substring -> rows), ranges too."""

    def __init__(self, results: dict[str, list[tuple[dict[str, str], float]]]) -> None:
        super().__init__("http://fake")
        self.results = results

    def _get(self, path: str, params: dict[str, str] | None = None) -> dict:
        expr = (params or {})["query"]
        rows = next((rows for key, rows in self.results.items() if key in expr), [])
        if path.endswith("query_range"):
            start, end = float(params["start"]), float(params["end"])  # type: ignore[index]
            times = [start + (end - start) * i / 9 for i in range(10)]
            series = [
                {
                    "metric": labels,
                    "values": [[t, str(value * (1 + i % 3))] for i, t in enumerate(times)],
                }
                for labels, value in rows
            ]
            return {"result": series}
        return {"result": [{"metric": labels, "value": [1000, str(v)]} for labels, v in rows]}


def test_each_part_from_its_source_and_rendered() -> None:
    prom = FakePrometheus(
        {
            "fleet_rollout_devices)": [
                ({"version": "3", "group": "canary", "outcome": "confirmed"}, 2),
                ({"version": "3", "group": "fleet", "outcome": "reverted"}, 1),
            ],
            "fleet_rollout_devices_seen": [({}, 50)],
            'feature="class_mix"': [({"model_version": "3"}, 0.31), ({"model_version": "2"}, 0.01)],
            'feature="confidence"': [({"model_version": "3"}, 1.2)],
            "low_confidence_ratio": [({"model_version": "3"}, 0.18)],
            "fleet_labeler_backlog": [({}, 7)],
            "fleet_distiller_gate": [({"metric": "new_accuracy_candidate"}, 0.96)],
            "fleet_distiller_retrains_total": [({"outcome": "published"}, 1)],
        }
    )
    alerts = [{"name": "FleetDriftHigh", "state": "firing", "severity": "warning",
               "summary": "", "labels": {"alertname": "FleetDriftHigh", "model_version": "3"},
               "starts_at": "", "ends_at": "", "fingerprint": "f"}]  # fmt: skip
    report = collect(
        components=lambda: [],
        prometheus=prom,
        rollouts=lambda: [rollout_record(3)],
        alerts=lambda: alerts,
        alerts_source="test",
    )
    assert report.errors() == {}
    assert [(r["version"], r["group"], r["outcome"]) for r in report.fleet.rows] == [
        (3, "canary", "confirmed"),
        (3, "fleet", "reverted"),
    ]
    assert report.fleet.devices_seen == 50
    assert [r["model_version"] for r in report.drift.rows] == ["3", "2"]
    assert report.drift.rows[0]["class_mix_psi"] == 0.31 and report.drift.rows[0]["trend"]
    assert report.labeling.backlog == 7
    assert report.distiller.gate == {"new_accuracy_candidate": 0.96}
    assert (report.rollout.version, report.rollout.stage) == (3, "fleet")
    assert report.rollout.stages[1]["outcomes"] == {"confirmed": 2, "reverted": 1}
    json.dumps(report.to_json())  # every part is JSON
    console = Console(record=True, width=140)
    render(report, console)
    text = console.export_text()
    for shown in ("v3", "canary", "reverted", "0.31", "FleetDriftHigh", "backlog 7"):
        assert shown in text


def test_a_failing_source_empties_only_its_part() -> None:
    class Down(Prometheus):
        def _get(self, path: str, params: dict[str, str] | None = None) -> dict:
            raise PrometheusError("Prometheus at http://x did not answer: refused")

    def no_kafka() -> list[Any]:
        raise ServiceError("cannot reach Kafka at 127.0.0.1:1")

    report = collect(
        components=lambda: [],
        prometheus=Down("http://x"),
        rollouts=no_kafka,
        alerts=lambda: [],
        alerts_source="test",
    )
    assert set(report.errors()) == {"fleet", "drift", "labeling", "distiller", "rollout"}
    assert "did not answer" in report.errors()["drift"]
    assert report.alerts.error is None


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0, 1, 2]) == "▁▅█" and sparkline([1, 1]) == "▁▁" and sparkline([]) == ""


def _fleet(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "status", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONWARNINGS": "ignore::DeprecationWarning", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_everything_down_says_so_per_part_without_a_traceback(tmp_path) -> None:
    env = {
        "FLEET_STACK__DATA_DIR": str(tmp_path),
        "FLEET_STACK__KAFKA__PORT": str(free_port()),
        "FLEET_STACK__PROMETHEUS__PORT": str(free_port()),
        "FLEET_STACK__ALERTMANAGER__PORT": str(free_port()),
        "FLEET_METRICS_PORTS__CONTROL": str(free_port()),
    }
    done = _fleet(["--json"], env)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    assert {c["name"]: c["state"] for c in report["components"]["rows"]} == {
        "kafka": "down",
        "mosquitto": "down",
        "prometheus": "down",
        "alertmanager": "down",
    }
    for part in ("fleet", "drift", "labeling", "distiller"):
        assert "did not answer" in report[part]["error"], report[part]
    assert "Kafka" in report["rollout"]["error"]
    assert "/api/v1/alerts cannot be reached" in report["alerts"]["error"]
    assert "/api/v2/alerts cannot be reached" in report["alerts"]["error"]
    screen = _fleet([], {**env, "COLUMNS": "160"})
    assert screen.returncode == 1 and "Traceback" not in screen.stdout + screen.stderr
    for line in ("drift (Prometheus):", "rollout (Kafka model.rollouts):", "alerts:"):
        assert line in screen.stdout


class _Metrics(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.integration
def test_against_the_live_stack(stack, prometheus_target_factory) -> None:
    """Every source answers; what a service exports shows up in its part."""
    _Metrics.body = (
        b'fleet_processor_drift{model_version="9301",feature="class_mix",statistic="psi"} 0.42\n'
        b'fleet_processor_window_low_confidence_ratio{model_version="9301"} 0.25\n'
        b'fleet_rollout_devices{version="9301",group="canary",outcome="confirmed"} 2\n'
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Metrics)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        prometheus_target_factory(f"127.0.0.1:{server.server_port}", {"job": "status-test"})
        prom = Prometheus(stack.prometheus_url)
        deadline = time.monotonic() + 60
        while not prom.query('fleet_processor_drift{model_version="9301"}'):
            assert time.monotonic() < deadline, "Prometheus did not scrape the test target"
            time.sleep(0.5)
        done = _fleet(["--json"], {})
        report = json.loads(done.stdout)
        states = {c["name"]: c["state"] for c in report["components"]["rows"]}
        assert states == dict.fromkeys(("kafka", "mosquitto", "prometheus", "alertmanager"), "up")
        errors = {
            k: v["error"] for k, v in report.items() if isinstance(v, dict) and v.get("error")
        }
        assert errors == {}, errors  # (alerts: Alertmanager answers when no control API runs)
        assert done.returncode == 0, done.stderr
        (drift,) = [r for r in report["drift"]["rows"] if r["model_version"] == "9301"]
        assert (drift["class_mix_psi"], drift["low_confidence"]) == (0.42, 0.25)
        assert {"version": 9301, "group": "canary", "outcome": "confirmed", "devices": 2.0} in (
            report["fleet"]["rows"]
        )
    finally:
        server.shutdown()
        server.server_close()
