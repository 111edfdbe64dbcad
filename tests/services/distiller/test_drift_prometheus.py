"""The default drift query against the real Prometheus: the processor's PSI gauge, through
the recording rule of deploy/prometheus/rules/fleet.yml, fires the drift trigger."""

from __future__ import annotations

import random
import time

import pytest

from services.distiller.settings import DRIFT_QUERY
from services.distiller.triggers import PrometheusDrift, TriggerConfig, Triggers

pytestmark = pytest.mark.integration


def test_recorded_processor_drift_fires_the_trigger(stack, prometheus_target_factory):
    from prometheus_client import CollectorRegistry, start_http_server

    from services.processor.metrics import ProcessorMetrics

    version = random.randrange(10**6, 10**7)  # a model version no other test exports
    metrics = ProcessorMetrics.create(CollectorRegistry())
    metrics.drift.labels(str(version), "class_mix", "psi").set(0.42)
    metrics.drift.labels(str(version), "confidence", "psi").set(0.05)
    metrics.drift.labels(str(version), "class_mix", "js").set(0.9)  # not PSI: not counted
    exported = time.monotonic()  # the series cannot exist in Prometheus before this
    server, thread = start_http_server(0, addr="127.0.0.1", registry=metrics.registry)
    try:
        prometheus_target_factory(f"127.0.0.1:{server.server_address[1]}")
        source = PrometheusDrift(stack.prometheus_url, DRIFT_QUERY, hold_s=10)
        value = None
        while time.monotonic() < exported + 90 and value is None:
            value = source.drift(version)
            time.sleep(1.0)
        assert value == pytest.approx(0.42), "the recorded PSI never reached Prometheus"
        # not before the series existed for the hold period
        assert time.monotonic() - exported >= 10
        assert source.drift(version + 1) is None
        config = TriggerConfig(
            interval_s=3600, min_new_samples=10**6, drift_threshold=0.2, drift_poll_s=1,
            drift_cooldown_s=600, drift_min_new_samples=1,
        )  # fmt: skip
        fired = Triggers(config, source, now=0).due(0, 5, [], version)
        assert fired is not None and fired.reason == "drift"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
