"""Two gateway processes in one share group split the devices' messages: each message reaches
Kafka once, and both gateways carry part of the load."""

from __future__ import annotations

import re
import urllib.request
from collections import Counter

import pytest

from .test_gateway_recovery import DEVICES, wait_all

pytestmark = pytest.mark.integration


def produced(gateway) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{gateway.metrics_port}/metrics").read()
    values = re.findall(r"^fleet_gateway_produced_total\{[^}]*\} (\S+)$", text.decode(), re.M)
    return sum(float(v) for v in values)


def test_two_gateways_share_the_load_and_forward_each_message_once(
    stack, gateway_topics, gateway_factory, publisher_factory
):
    gateways = [gateway_factory(gateway_topics) for _ in range(2)]
    publisher = publisher_factory(DEVICES, count=3000, rate=1500).start()
    publisher.join()
    assert publisher.errors == []
    got = wait_all(stack, gateway_topics.predictions, publisher.sent, timeout_s=90)
    counts = Counter(got)
    assert set(counts) == set(publisher.sent), f"lost {len(set(publisher.sent) - set(got))}"
    assert [i for i, c in counts.items() if c > 1] == []
    shares = [produced(g) for g in gateways]
    assert all(s > 0 for s in shares), shares
    assert sum(shares) == len(publisher.sent)
    for gateway in gateways:
        assert gateway.terminate() == 0, gateway.log()
