"""The committed dashboard JSON is what the code renders, and it is sound Grafana JSON."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from services.dashboards.export import DEFAULT_DIR, panel_queries, render
from services.settings import REPO_ROOT
from tests.deploy.test_prometheus_rules import _exported_names, _rules

RENDERED = render()


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_committed_json_is_current(name):
    path = DEFAULT_DIR / name
    assert path.is_file(), f"{path} missing; run python -m services.dashboards.export"
    assert path.read_text(encoding="utf-8") == RENDERED[name], (
        f"{path} is stale; run python -m services.dashboards.export"
    )


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_dashboard_json_is_sound(name):
    board = json.loads(RENDERED[name])
    assert board["uid"] and board["title"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert panels, "a dashboard without panels"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)) and all(refs), panel["title"]
        assert panel["datasource"]["uid"] == "fleet-prometheus"
    assert all("device_id" not in expr for _, expr in panel_queries(RENDERED[name]))


def test_provisioning_points_at_the_dashboards_and_datasource():
    provisioning = REPO_ROOT / "deploy" / "grafana" / "provisioning"
    dashboards = yaml.safe_load((provisioning / "dashboards" / "fleet.yaml").read_text())
    assert dashboards["providers"][0]["options"]["path"] == "deploy/grafana/dashboards"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())
    assert datasources["datasources"][0]["uid"] == "fleet-prometheus"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_metric_a_panel_reads_is_exported_or_recorded(name):
    """Without the live stack: a typo in a metric or recording rule name fails here."""
    exported = _exported_names()
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    for title, expr in panel_queries(RENDERED[name]):
        for metric in re.findall(r"\b(fleet_[a-z_]+)\b", expr):
            assert metric in exported, f"{title} reads unknown {metric}"
        for rule in re.findall(r"\b(fleet:[a-z_0-9:]+)\b", expr):
            assert rule in recorded, f"{title} reads {rule}, which no rule records"
