"""``fleet status`` on a terminal: one screen of rich tables, a red line per unreachable part."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from services.status.report import StatusReport

STATE_STYLE = {"up": "green", "down": "red", "starting": "yellow", "stale": "magenta"}


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "-" if value is None else format(value, fmt)


def _error(what: str, error: str | None) -> Text | None:
    return Text(f"{what}: {error}", style="red") if error else None


def _table(title: str, *columns: str) -> Table:
    table = Table(title=Text(title), title_justify="left", expand=False, pad_edge=False)
    for column in columns:
        table.add_column(column)
    return table


def render(report: StatusReport, console: Console) -> None:
    when = datetime.fromtimestamp(report.at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    console.rule(f"[bold]fleet status[/] {when}")
    items: list[RenderableType | None] = []  # None: a section without an error line

    comp = _table("Stack", "component", "state", "pid", "detail")
    for r in report.components.rows:
        style = STATE_STYLE.get(r["state"], "")
        comp.add_row(r["name"], Text(r["state"], style), str(r["pid"] or "-"), r["detail"])
    items += [_error("stack", report.components.error), comp]

    f = report.fleet
    fleet = _table(
        f"Fleet (devices reporting recently: {_num(f.devices_seen, '.0f')})",
        "release",
        "group",
        "outcome",
        "devices",
    )
    for r in f.rows:
        style = "red" if r["outcome"] in ("reverted", "rejected") else ""
        fleet.add_row(f"v{r['version']}", r["group"], Text(r["outcome"], style),
                      _num(r["devices"], ".0f"))  # fmt: skip
    rates = ", ".join(f"v{v} {r:.2f}/s" for v, r in sorted(f.events_per_s.items())) or "none"
    items += [_error("fleet (Prometheus)", f.error)]
    if not f.error:
        items += [fleet, Text(f"predictions: {rates}")]

    drift = _table("Drift (last closed window)", "release", "class-mix PSI", "confidence PSI",
                   "low-conf share", "class-mix PSI, 30 min")  # fmt: skip
    for r in report.drift.rows:
        psi = r["class_mix_psi"]
        style = "red" if psi is not None and psi > 0.2 else ""
        drift.add_row(f"v{r['model_version']}", Text(_num(psi), style),
                      _num(r["confidence_psi"]), _num(r["low_confidence"]), r["trend"])  # fmt: skip
    items += [_error("drift (Prometheus)", report.drift.error)]
    if not report.drift.error:
        items.append(drift)

    lab, dist = report.labeling, report.distiller
    items.append(_error("labeling (Prometheus)", lab.error))
    if not lab.error:
        items.append(
            Text(
                f"Labeling: requests {_num(lab.requests_per_s)}/s, labeled "
                f"{_num(lab.labeled_per_s)}/s ({_num(lab.labeled_1h, '.0f')} in 1 h), "
                f"backlog {_num(lab.backlog, '.0f')}"
            )
        )
    items.append(_error("distiller (Prometheus)", dist.error))
    if not dist.error:
        cycles = ", ".join(f"{o} {n:.0f}" for o, n in sorted(dist.cycles.items()) if n) or "none"
        gate = ", ".join(f"{m}={v:.3g}" for m, v in sorted(dist.gate.items())) or "none yet"
        items.append(
            Text(
                f"Distiller: {_num(dist.samples, '.0f')} samples ({_num(dist.new_samples, '.0f')} "
                f"new), cycles: {cycles}, newest v{_num(dist.current, '.0f')}; last gate: {gate}"
            )
        )

    ro = report.rollout
    items.append(_error("rollout (Kafka model.rollouts)", ro.error))
    if ro.version is not None:
        stages = _table(
            f"Rollout v{ro.version} ({ro.kind}): {ro.status}"
            + (f", stage {ro.stage}" if ro.stage else ""),
            "stage",
            "status",
            "devices",
            "outcomes",
        )
        for s in ro.stages:
            outcomes = ", ".join(f"{n} {o}" for o, n in sorted(s["outcomes"].items())) or "-"
            stages.add_row(s["group"], s["status"], str(s["population"]), outcomes)
        items.append(stages)
    elif not ro.error:
        items.append(Text("Rollout: none yet"))

    al = report.alerts
    alerts = _table(f"Alerts ({al.source})", "alert", "state", "severity", "labels")
    for r in al.rows:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(r["labels"].items()) if k != "alertname")
        style = "red" if r["state"] == "firing" else "yellow"
        alerts.add_row(r["name"], Text(r["state"], style), r["severity"], labels)
    items.append(_error("alerts", al.error))
    if not al.error:
        items.append(alerts if al.rows else Text(f"Alerts: none ({al.source})"))
    console.print(Panel(Group(*[i for i in items if i is not None]), expand=False))
