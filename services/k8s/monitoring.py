"""Prometheus Operator objects: a ServiceMonitor per service, and a PrometheusRule per rule
file of the local stack (``deploy/prometheus/rules/*.yml``), so the cluster records and
alerts with exactly the rules that ``promtool test rules`` checks in ``make test``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from services.k8s.manifests import PORTS, SERVICES, Obj, labels, meta


def service_monitors() -> list[Obj]:
    """Scrape each service like the local stack does: job = service name, plus the same
    ``service`` label its static config adds."""
    ports = PORTS.by_service()
    return [
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": meta(name),
            "spec": {
                "selector": {"matchLabels": labels(name)},
                "jobLabel": "app.kubernetes.io/name",
                "endpoints": [
                    {
                        "port": "metrics",
                        "path": "/metrics",
                        "interval": "15s",
                        "relabelings": [
                            {"targetLabel": "service", "replacement": name, "action": "replace"}
                        ],
                    }
                ],
            },
        }
        for name in SERVICES
        if name in ports
    ]


def prometheus_rules(rules_dir: Path) -> list[Obj]:
    out = []
    for path in sorted(rules_dir.glob("*.yml")):
        groups: Any = yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        out.append({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": meta(f"fleet-{path.stem}"),
            "spec": {"groups": groups},
        })  # fmt: skip
    return out
