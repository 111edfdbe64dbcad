"""The Prometheus client against the real Prometheus."""

from __future__ import annotations

import time

import pytest

from services.promql import Prometheus

pytestmark = pytest.mark.integration


def test_range_points_sit_on_the_step_grid(stack):
    """Two charts drawn seconds apart show the same history: the points lie on multiples of
    the step whatever the requested start, and the end is never in the future."""
    prom = Prometheus(stack.prometheus_url)
    now = time.time()
    first = prom.query_range("time()", now - 600, now, 15.4)
    second = prom.query_range("time()", now - 597, now + 0.5, 15)
    assert len(first) == len(second) == 1
    points = first[0].points
    assert points and all(t % 15 == 0 and v == t for t, v in points), points[:3]
    assert points[-1][0] <= now
    assert set(second[0].points) <= set(points) | {(points[-1][0] + 15, points[-1][0] + 15)}
