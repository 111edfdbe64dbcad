"""Trigger bookkeeping (ops > drift > schedule) and the Prometheus drift source."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from contract.schemas import Redistill
from models.errors import ConfigError
from services.distiller.triggers import (
    DriftSource,
    MemoryDrift,
    PrometheusDrift,
    TriggerConfig,
    Triggers,
)
from services.errors import ServiceError

CONFIG = TriggerConfig(
    interval_s=100, min_new_samples=50, drift_threshold=0.2, drift_poll_s=10,
    drift_cooldown_s=300, drift_min_new_samples=5,
)  # fmt: skip


def redistill(command_id: str, max_steps: int | None = None) -> Redistill:
    return Redistill(command_id=command_id, issued_by="ops", ts=time.time(), max_steps=max_steps)


def test_schedule_needs_the_interval_and_enough_new_samples():
    t = Triggers(CONFIG, None, now=0)
    assert t.due(99, 1000, [], 1) is None  # too early
    assert t.due(100, 49, [], 1) is None  # too few
    fired = t.due(100, 50, [], 1)
    assert fired is not None and fired.reason == "schedule"
    t.record(fired, 100)
    assert t.due(150, 1000, [], 1) is None  # the interval restarts at the cycle
    assert t.due(200, 1000, [], 1) is not None


def test_ops_command_fires_first_with_its_step_cap():
    t = Triggers(CONFIG, MemoryDrift({1: 0.9}), now=0)
    fired = t.due(1000, 1000, [redistill("c-1", 7), redistill("c-2")], 1)
    assert fired is not None and fired.reason == "ops"
    assert fired.command is not None and fired.command.command_id == "c-1"
    assert fired.max_steps == 7


def test_drift_above_threshold_fires_once_per_cooldown():
    drift = MemoryDrift({1: 0.35, 2: 0.01})
    t = Triggers(CONFIG, drift, now=0)
    fired = t.due(1, 10, [], 1)
    assert fired is not None and fired.reason == "drift" and fired.drift == 0.35
    t.record(fired, 1)
    assert t.due(20, 10, [], 1) is None  # in the cooldown
    assert t.due(400, 10, [], 1) is not None  # after it
    assert t.due(1000, 10, [], 2) is None  # the new release does not drift


def test_drift_respects_poll_interval_threshold_and_sample_floor():
    class Counting(DriftSource):
        def __init__(self) -> None:
            self.calls = 0

        def drift(self, version: int) -> float | None:
            self.calls += 1
            return 0.5

    source = Counting()
    t = Triggers(CONFIG, source, now=0)
    assert t.due(0, 4, [], 1) is None  # too few new samples
    assert t.due(5, 100, [], 1) is None  # not polled again within drift_poll_s
    assert source.calls == 1
    assert t.due(10, 100, [], 1) is not None
    quiet = Triggers(CONFIG, MemoryDrift({1: 0.2}), now=0)
    assert quiet.due(0, 100, [], 1) is None  # at the threshold is not above it
    assert Triggers(CONFIG, MemoryDrift({1: 0.9}), now=0).due(0, 100, [], None) is None


def test_an_unreachable_drift_source_is_counted_not_fatal():
    class Broken(DriftSource):
        def drift(self, version: int) -> float | None:
            raise ServiceError("down")

    t = Triggers(CONFIG, Broken(), now=0)
    assert t.due(0, 100, [], 1) is None
    assert t.drift_errors == 1 and t.last_drift is None


class _FakePrometheus(BaseHTTPRequestHandler):
    result: ClassVar[list] = []
    queries: ClassVar[list] = []

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["query"][0]
        type(self).queries.append(query)
        body = json.dumps({"status": "success", "data": {"resultType": "vector",
                                                         "result": type(self).result}})  # fmt: skip
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def fake_prometheus_factory():
    servers = []

    def make(result: list) -> tuple[str, list[str]]:
        """(base URL, the queries it received)"""
        queries: list[str] = []
        handler = type("Handler", (_FakePrometheus,), {"result": result, "queries": queries})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", queries

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def test_prometheus_drift_reads_the_largest_sample(fake_prometheus_factory):
    url, queries = fake_prometheus_factory(
        [
            {"metric": {"model_version": "3"}, "value": [0, "0.31"]},
            {"metric": {"model_version": "3"}, "value": [0, "0.12"]},
        ]
    )
    source = PrometheusDrift(url, 'min_over_time(x{{v="{version}"}}[{hold_s}s])', hold_s=180)
    assert source.drift(3) == pytest.approx(0.31)
    assert queries == ['min_over_time(x{v="3"}[180s])']


def test_prometheus_drift_is_none_without_data_and_fails_when_unreachable(
    fake_prometheus_factory,
):
    url, _ = fake_prometheus_factory([])
    assert PrometheusDrift(url, "q{{{version}}}", 1).drift(1) is None
    with pytest.raises(ServiceError):
        PrometheusDrift("http://127.0.0.1:9", "q{version}", 1, timeout_s=1).drift(1)
    with pytest.raises(ConfigError):
        PrometheusDrift("http://x", "no placeholder", 1)
