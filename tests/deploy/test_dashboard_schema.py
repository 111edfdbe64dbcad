"""Each committed dashboard against the schema of the Grafana version the SDK targets
(grafana-foundation-sdk 11.6, generated from Grafana's own schemas): decoded by the SDK's
models and encoded again, nothing may be lost. A key the 11.6 schema does not know (on the
dashboard, a panel, a panel plugin's options or field config, a Prometheus query) would be
dropped, and the test names it; enums must hold one of their values. This is beyond the
query check (tests/deploy/test_dashboards.py: every query returns data)."""

from __future__ import annotations

import importlib
import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from services.settings import REPO_ROOT

DASHBOARDS = sorted((REPO_ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
SDK = "grafana-foundation-sdk"


def _encode(model: Any) -> Any:
    from grafana_foundation_sdk.cog import encoder

    return json.loads(encoder.JSONEncoder().encode(model))


def _lost(original: Any, decoded: Any, path: str) -> list[str]:
    """Keys and values of ``original`` that the round trip did not keep."""
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [f"{path}: became {decoded!r}"]
        return [
            problem
            for key, value in original.items()
            for problem in (
                [f"{path}.{key}: not in the schema"]
                if key not in decoded
                else _lost(value, decoded[key], f"{path}.{key}")
            )
        ]
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [f"{path}: list changed"]
        return [p for i, v in enumerate(original) for p in _lost(v, decoded[i], f"{path}[{i}]")]
    return [] if original == decoded else [f"{path}: {original!r} became {decoded!r}"]


def _plugin(panel_type: str) -> Any:
    try:
        return importlib.import_module(f"grafana_foundation_sdk.models.{panel_type}")
    except ImportError:
        pytest.fail(f"panel type {panel_type!r} has no schema in {SDK} {version(SDK)}")


def test_the_sdk_targets_grafana_11_6() -> None:
    assert version(SDK).endswith("!11.6.0")  # the pin in pyproject.toml


@pytest.mark.parametrize("path", DASHBOARDS, ids=[p.stem for p in DASHBOARDS])
def test_dashboard_conforms_to_the_grafana_schema(path: Path) -> None:
    from grafana_foundation_sdk.models import dashboard, prometheus

    data = json.loads(path.read_text())
    problems = _lost(data, _encode(dashboard.Dashboard.from_json(data)), "")
    if "graphTooltip" in data:
        dashboard.DashboardCursorSync(data["graphTooltip"])  # ValueError: not a member
    panels = [p for p in data.get("panels", []) if p.get("type") != "row"]
    assert panels, f"{path.name} has no panels"
    for i, panel in enumerate(panels):
        where = f"panels[{panel.get('title', i)}]"
        plugin = _plugin(panel["type"])
        if "options" in panel:
            options = plugin.Options.from_json(panel["options"])
            problems += _lost(panel["options"], _encode(options), f"{where}.options")
        custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
        if custom is not None:
            config = plugin.FieldConfig.from_json(custom)
            problems += _lost(custom, _encode(config), f"{where}.fieldConfig.defaults.custom")
        for j, target in enumerate(panel.get("targets", [])):
            assert target.get("datasource", {}).get("type") == "prometheus", target
            query = prometheus.Dataquery.from_json(target)
            problems += _lost(target, _encode(query), f"{where}.targets[{j}]")
    assert problems == [], f"{path.name}: " + "; ".join(problems[:20])


def test_an_unknown_key_is_caught() -> None:
    """The check itself can fail: a made-up panel option is reported."""
    from grafana_foundation_sdk.models import timeseries

    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True,
                          "calcs": []}, "madeUpOption": 1}  # fmt: skip
    lost = _lost(options, _encode(timeseries.Options.from_json(options)), "options")
    assert lost == ["options.madeUpOption: not in the schema"]
