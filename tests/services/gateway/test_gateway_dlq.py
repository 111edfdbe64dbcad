"""The gateway process on the real brokers: valid messages reach Kafka, bad ones the DLQ,
and it keeps running."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest

from contract.schemas import examples, parse_device_status, parse_prediction
from contract.schemas.dlq import parse_dlq_record

from .conftest import read_topic

pytestmark = pytest.mark.integration


def test_bad_payloads_land_in_the_dlq_with_reasons_while_valid_ones_pass(
    stack, gateway_topics, gateway_factory, mqtt_client_factory
):
    gateway = gateway_factory(gateway_topics)
    device = mqtt_client_factory(stack.device("dev-0002"))
    bad = {
        b"{not json": "json",
        b'{"a": "' + b"x" * 70_000 + b'"}': "exceeds",
        json.dumps({"schema_version": 1, "device_id": "dev-0002"}).encode(): "field required",
        b"\xc3\x28 invalid utf-8": "utf-8",
    }
    good = examples.prediction_event("dev-0002", seq=1)
    status = examples.device_status("dev-0002")
    for payload in bad:
        device.publish("fleet/dev-0002/pred", payload)
    device.publish("fleet/dev-0002/status", b'{"kind": "heartbeat"}')
    device.publish("fleet/dev-0002/pred", good.to_bytes())
    device.publish("fleet/dev-0002/status", status.to_bytes())

    # Other devices may be publishing on the same broker (a running demo): look at ours only.
    ours = set(bad) | {b'{"kind": "heartbeat"}'}

    def dlq_records(records):
        parsed = [parse_dlq_record(r.value) for r in records]
        return {d.payload(): d for d in parsed if d.payload() in ours}

    dlq = read_topic(stack.kafka, gateway_topics.dlq, lambda r: len(dlq_records(r)) >= 5)
    by_payload = dlq_records(dlq)
    for payload, reason in bad.items():
        assert payload in by_payload, f"missing DLQ record for {payload[:30]!r}"
        assert by_payload[payload].reason.lower().count(reason.lower()), by_payload[payload]
        assert by_payload[payload].topic == "fleet/dev-0002/pred"
    assert by_payload[b'{"kind": "heartbeat"}'].topic == "fleet/dev-0002/status"

    def mine(records, parse):
        return [(r.key, parse(r.value)) for r in records if r.key == b"dev-0002"]

    preds = read_topic(
        stack.kafka, gateway_topics.predictions,
        lambda r: len(mine(r, parse_prediction)) >= 1,
    )  # fmt: skip
    assert mine(preds, parse_prediction) == [(b"dev-0002", good)]
    statuses = read_topic(
        stack.kafka, gateway_topics.status,
        lambda r: len(mine(r, parse_device_status)) >= 1,
    )  # fmt: skip
    assert mine(statuses, parse_device_status) == [(b"dev-0002", status)]
    assert gateway.alive()

    metrics = urllib.request.urlopen(f"http://127.0.0.1:{gateway.metrics_port}/metrics").read()
    samples = dict(re.findall(r"^(fleet_gateway_\S+) (\S+)$", metrics.decode(), flags=re.MULTILINE))
    assert float(samples['fleet_gateway_dlq_total{kind="pred"}']) >= 4
    assert float(samples['fleet_gateway_dlq_total{kind="status"}']) >= 1
    assert float(samples["fleet_gateway_produce_latency_seconds_count"]) >= 7
    assert gateway.terminate() == 0, gateway.log()
