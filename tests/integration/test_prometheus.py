"""Prometheus scrapes a test exporter registered through file_sd and answers PromQL."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
import uuid

import pytest

pytestmark = pytest.mark.integration


def _query(base_url: str, promql: str) -> list[dict]:
    url = f"{base_url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]["result"]


def test_prometheus_scrapes_a_test_exporter(stack, prometheus_target_factory):
    from prometheus_client import CollectorRegistry, Gauge, start_http_server

    registry = CollectorRegistry()
    gauge = Gauge("fleet_test_value", "a value set by the test", ["run"], registry=registry)
    run = uuid.uuid4().hex[:8]
    gauge.labels(run=run).set(42.5)
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        port = server.server_address[1]
        prometheus_target_factory(f"127.0.0.1:{port}", labels={"job": f"test-{run}"})
        promql = f'sum by (job) (fleet_test_value{{run="{run}"}}) * 2'
        deadline = time.monotonic() + 60
        result: list[dict] = []
        while time.monotonic() < deadline and not result:
            result = _query(stack.prometheus_url, promql)
            time.sleep(0.5)
        assert result, f"Prometheus never scraped 127.0.0.1:{port}"
        assert result[0]["metric"] == {"job": f"test-{run}"}
        assert float(result[0]["value"][1]) == 85.0
        up = _query(stack.prometheus_url, f'up{{job="test-{run}"}}')
        assert float(up[0]["value"][1]) == 1.0
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
