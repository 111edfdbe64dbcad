"""Recording rules and alerts: promtool accepts them, their unit tests pass, and every
metric they read is one a service actually exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from services.processor.drift import PSI_ALERT
from services.settings import REPO_ROOT

RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: `make setup` installs Debian's prometheus"
    return subprocess.run(
        [promtool, *args], capture_output=True, text=True, check=False, timeout=120
    )


def _rule_files() -> list[str]:
    files = sorted(str(p) for p in RULES_DIR.glob("*.yml"))
    assert files, f"no rule files in {RULES_DIR}"
    return files


def test_promtool_accepts_the_rules():
    result = _promtool("check", "rules", *_rule_files())
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", sorted(p.name for p in (RULES_DIR / "tests").glob("*.yml")))
def test_rule_unit_tests_pass(test_file):
    result = _promtool("test", "rules", str(RULES_DIR / "tests" / test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def _rules() -> list[dict]:
    return [
        rule
        for path in _rule_files()
        for group in yaml.safe_load(Path(path).read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]


def test_drift_alert_threshold_is_the_processors():
    (drift,) = [r for r in _rules() if r.get("alert") == "FleetDriftHigh"]
    threshold = float(re.search(r">\s*([0-9.]+)", drift["expr"]).group(1))
    assert threshold == PSI_ALERT


def _exported_names() -> set[str]:
    from faust.sensors.prometheus import FaustMetrics
    from prometheus_client import CollectorRegistry

    from services.control.metrics import ControlMetrics
    from services.distiller.metrics import DistillerMetrics
    from services.gateway.metrics import GatewayMetrics
    from services.labeler.metrics import LabelerMetrics
    from services.processor.metrics import PREFIX, ProcessorMetrics
    from services.rollout.metrics import RolloutMetrics

    registries = [
        ProcessorMetrics.create().registry,
        LabelerMetrics.create().registry,
        GatewayMetrics().registry,
        RolloutMetrics.create().registry,
        DistillerMetrics.create().registry,
        ControlMetrics.create().registry,
    ]
    faust_registry = CollectorRegistry()
    FaustMetrics.create(faust_registry, f"{PREFIX}_faust")
    registries.append(faust_registry)
    names = set()
    for registry in registries:
        for family in registry.collect():
            # labeled metrics have no samples until first used: derive the sample names
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
            names.add(family.name)
            names.update(family.name + suffix for suffix in suffixes.get(family.type, []))
    return names


def test_every_metric_the_rules_read_is_exported():
    exported = _exported_names()
    for rule in _rules():
        for name in re.findall(r"\b(fleet_[a-z_]+)\b", rule["expr"]):
            assert name in exported, (
                f"{rule.get('record') or rule.get('alert')} reads unknown {name}"
            )
