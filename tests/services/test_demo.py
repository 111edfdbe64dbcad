"""The quick demo runs the real loop against the session stack and its numbers agree:
everything published reached Kafka, drift rose after the switch, every request was labelled."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console

from services.demo import QUICK
from services.demo.run import run
from services.demo.summary import delivery_ok, drift_increased

pytestmark = pytest.mark.integration


# kafka-python and paho drop unconnected sockets without closing them when they reconnect
# (e.g. while another test restarts the shared broker); that is not the demo's doing.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_quick_demo_accounts_for_every_prediction_and_sees_the_drift(stack, tmp_path):
    out = io.StringIO()
    result = run(replace(QUICK, var_dir=tmp_path), Console(file=out, width=120))
    text = out.getvalue()
    k = result.kafka

    # delivery: every prediction the devices published reached Kafka, in the right phase
    assert result.traffic.undelivered == 0, text
    assert result.traffic.sent == result.published
    assert k.unique_predictions == result.published, text
    for phase in (0, 2):  # by the event's timestamp; a message may straddle the switch
        assert abs(k.by_phase[phase] - result.traffic.published[phase]) <= 2, text
    assert k.dlq >= result.traffic.malformed == QUICK.malformed
    assert delivery_ok(result)
    # the services' own counters, read from Prometheus, agree with the records
    assert result.counters["processor events"] == k.unique_predictions, text
    assert result.counters["gateway dead-lettered"] >= result.traffic.malformed, text

    # drift: phase-2 windows drift more from the release's profile than phase-0 windows
    assert drift_increased(result), text
    for feature in ("class_mix", "confidence"):
        before, after = result.drift_before[(feature, "psi")], result.drift_after[(feature, "psi")]
        assert after.mean > before.mean, (feature, text)
    assert result.low_conf_after is not None and result.low_conf_before is not None
    assert result.low_conf_after > result.low_conf_before, text

    # labelling: requests within the budget, and the labeller answered every one of them
    windows = round(QUICK.traffic_s / QUICK.window_s)
    assert 0 < k.label_requests <= windows * QUICK.budget_per_window
    assert k.labelled == k.label_requests, text
    assert k.teacher_ids == ["keyword-double"]
    assert result.alert_rules > 0  # Prometheus loaded the project's alert rules
    assert f"{k.unique_predictions}/{result.published} published predictions reached Kafka" in (
        text
    )
