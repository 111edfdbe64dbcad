"""Render the dashboards to the JSON Grafana provisions from ``deploy/grafana/dashboards``.

Run ``python -m services.dashboards.export`` after changing ``fleet.py``; a test checks the
committed files are current.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from services.dashboards import fleet
from services.dashboards.distillation import distillation
from services.generated import export_main, write_files
from services.settings import REPO_ROOT

DEFAULT_DIR = REPO_ROOT / "deploy" / "grafana" / "dashboards"
DASHBOARDS = {**fleet.DASHBOARDS, "fleet-distillation.json": distillation}


def render() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    encoder = JSONEncoder(sort_keys=True, indent=2, ensure_ascii=False)
    return {
        name: encoder.encode(_numbered(build().build())) + "\n"
        for name, build in DASHBOARDS.items()
    }


def _numbered(board: Dashboard) -> Dashboard:
    """Give panels unique ids and each panel's queries the refIds A, B, ... Grafana expects."""
    for panel_id, panel in enumerate(board.panels or [], start=1):
        panel.id_val = panel_id
        for i, target in enumerate(getattr(panel, "targets", None) or []):
            target.ref_id = chr(ord("A") + i)
    return board


def panel_queries(text: str) -> Iterator[tuple[str, str]]:
    """(panel title, PromQL expression) of every query target in a dashboard's JSON."""
    for panel in json.loads(text).get("panels", []):
        for target in panel.get("targets") or []:
            if target.get("expr"):
                yield panel["title"], target["expr"]


def write(directory: Path = DEFAULT_DIR) -> list[Path]:
    return write_files(render(), directory)


def main(argv: list[str] | None = None) -> None:
    export_main(render, DEFAULT_DIR, argv)


if __name__ == "__main__":
    main()
