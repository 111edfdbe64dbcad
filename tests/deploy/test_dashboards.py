"""The committed dashboard JSON is what the code renders, and it is sound Grafana JSON."""

from __future__ import annotations

import json

import pytest
import yaml

from services.dashboards.export import DEFAULT_DIR, panel_queries, render
from services.settings import REPO_ROOT

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
