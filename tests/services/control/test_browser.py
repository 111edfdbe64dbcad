"""The ops page in a real browser (Debian's chromium through Playwright) against the real
control API on the real stack: Kafka topics hold releases, a rollout and the commands;
Prometheus scrapes drift and confidence series in the processor's format. The page renders
them, every chart has points, a command sent through a form is confirmed, accepted and
listed, a wrong token is refused visibly, and the browser logs no error."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from threading import Thread
from typing import Any

import pytest

from contract.signing import sign
from services.control.auth import read_token
from services.control.browser import chromium, sign_in
from services.control.web import CHART_POINTS, CHARTS, DEFAULT_MINUTES
from services.promql import Prometheus
from services.releases.keys import load_or_create_key
from services.releases.store import ReleaseStore
from tests.services.control.conftest import release
from tests.services.control.harness import control_process
from tests.services.control.test_page import rollout_record

pytestmark = pytest.mark.integration

VERSIONS = ("8101", "8102")


class _Processor(BaseHTTPRequestHandler):
    """Serves drift and low-confidence gauges like the processor's /metrics."""

    def do_GET(self) -> None:
        lines = []
        for i, v in enumerate(VERSIONS):
            for feature, value in (("class_mix", 0.3 - 0.2 * i), ("confidence", 1.0 - 0.9 * i)):
                lines.append(
                    f'fleet_processor_drift{{model_version="{v}",feature="{feature}",'
                    f'statistic="psi"}} {value}'
                )
            lines.append(f'fleet_processor_window_low_confidence_ratio{{model_version="{v}"}} 0.1')
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(("\n".join(lines) + "\n").encode())

    def log_message(self, *args: Any) -> None:
        pass


def test_the_ops_page_in_chromium(stack, kafka_topic_factory, prometheus_target_factory, tmp_path):

    commands = kafka_topic_factory(prefix="test.ops")
    releases = kafka_topic_factory(compacted=True, prefix="test.rel")
    rollouts = kafka_topic_factory(compacted=True, prefix="test.rollouts")
    key = load_or_create_key(tmp_path / "keys")
    store = ReleaseStore(tmp_path / "releases")
    producer = stack.kafka.producer(acks="all")
    now = datetime.now(UTC)
    for i, version in enumerate(int(v) for v in VERSIONS):
        manifest, blob = release(version)
        metrics = {"gate_new_accuracy_old": 0.27, "gate_new_accuracy_candidate": 0.96}
        created = now - timedelta(minutes=4 - 2 * i)  # markers inside the charts' range
        manifest = sign(manifest.model_copy(update={"metrics": metrics, "created": created}), key)
        store.put(manifest, blob)
        producer.send(releases, key=f"v{version}".encode(), value=manifest.to_bytes())
    record = rollout_record(int(VERSIONS[1]), t0=time.time() - 60)
    producer.send(rollouts, key=VERSIONS[1].encode(), value=record.to_bytes()).get(30)
    producer.flush()
    producer.close()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Processor)
    Thread(target=server.serve_forever, daemon=True).start()
    proc = control_process(
        tmp_path,
        commands_topic=commands,
        releases_topic=releases,
        rollouts_topic=rollouts,
        prometheus_url=stack.prometheus_url,
    ).start()
    try:
        prometheus_target_factory(f"127.0.0.1:{server.server_port}", {"job": "browser-test"})
        _wait_for_chart_points(Prometheus(stack.prometheus_url))
        proc.wait_for(lambda: bool(proc.metrics()), "the control API to serve")
        url = f"http://127.0.0.1:{proc.metrics_port}"
        token = read_token(tmp_path / "keys" / "ops.token")
        _drive(url, token, tmp_path)
    finally:
        server.shutdown()
        server.server_close()
        assert proc.stop() == 0, proc.tail()
    assert token not in proc.tail(100_000)  # neither the token nor a session id is logged


def _wait_for_chart_points(prom: Prometheus, timeout_s: float = 120.0) -> None:
    """Until the page's own range queries (its default range, same step) hold a settled
    point of each release in every chart. A point is settled once it is older than a scrape
    interval plus timeout: on a loaded machine a scrape of the test target can time out, and
    Prometheus then marks its series stale, which can still change the newest grid point."""
    deadline = time.monotonic() + timeout_s
    missing: list[str] = []
    while time.monotonic() < deadline:
        now = time.time()
        missing = []
        for chart_id, _, expr in CHARTS:
            span = DEFAULT_MINUTES * 60
            series = prom.query_range(expr, now - span, now, span / CHART_POINTS)
            settled = {
                s.labels.get("model_version")
                for s in series
                if any(t <= now - 3 for t, _ in s.points)
            }
            missing += [f"{chart_id} v{v}" for v in VERSIONS if v not in settled]
        if not missing:
            return
        time.sleep(0.5)
    raise AssertionError(f"Prometheus has no settled point for {missing}")


def _drive(url: str, token: str, tmp_path) -> None:
    errors: list[str] = []
    with chromium() as context:
        page = context.new_page()
        page.on(
            "console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error"
            else None,
        )  # fmt: skip
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))

        # 1. A wrong token is refused, visibly.
        answer = page.goto(url)
        assert answer is not None and answer.status == 200
        page.fill("#login input[name=token]", "not-the-token")
        with page.expect_navigation() as refused:
            page.click("#login button[type=submit]")
        assert refused.value is not None and refused.value.status == 401
        assert page.locator("#refusal").is_visible()
        assert "refused" in page.locator("#refusal").inner_text()
        errors[:] = [e for e in errors if "401" not in e]  # the refusal itself is logged as one

        # 2. Signed in: data in every part, points in every chart.
        sign_in(page, url, token)
        assert "token" not in page.url
        for version in VERSIONS:
            assert f"v{version}" in page.locator("#releases").inner_text()
        assert page.locator("#releases").inner_text().count("verifies") == 2
        assert "new_accuracy_candidate=0.96" in page.locator("#releases").inner_text()
        assert page.locator("#drift").inner_text().count("0.3") >= 1
        charts = page.locator("svg.chart")
        assert charts.count() == 4  # class-mix PSI, confidence PSI, low-confidence, rollout
        for i in range(charts.count()):
            chart = charts.nth(i)
            assert int(chart.get_attribute("data-points") or 0) > 0, (
                chart.get_attribute("id"),
                page.locator("p.error").all_inner_texts(),
            )
        for version in VERSIONS:  # (other tests' series may be in range too)
            assert page.locator(f'#chart-low-confidence polyline[data-series="v{version}"]').count()
        assert page.locator("#chart-class-mix-psi .marker").count() >= 1
        timeline = page.locator("#rollout-timeline").inner_html()
        assert "canary" in timeline and "fleet" in timeline
        page.screenshot(path=str(tmp_path / "console.png"), full_page=True)

        # 3. A command through its form: confirmation, then the server's answer and the list.
        page.fill("#form-redistill input[name=max_steps]", "40")
        page.fill("#form-redistill input[name=reason]", "browser test")
        page.fill("#form-redistill input[name=operator]", "playwright")
        page.click("#form-redistill button[type=submit]")
        page.wait_for_load_state()
        assert "max_steps=40" in page.locator("#confirm-summary").inner_text()
        page.click("#confirm button[type=submit]")
        page.wait_for_load_state()
        answer_text = page.locator("#answer").inner_text()
        assert "202 Accepted" in answer_text and "ops:playwright" in answer_text
        command_id = page.locator("#answer b").inner_text()
        listed = page.locator("#commands").inner_text()
        assert command_id in listed and "browser test" in listed
    assert errors == [], errors
