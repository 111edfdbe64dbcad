"""The demo's closing summary: delivery, drift before and after the switch, labelling, alerts."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from services.demo.config import DemoConfig
from services.demo.report import DRIFT_FEATURES, DRIFT_STATISTICS


def _num(value: float | None, fmt: str = ".0f") -> str:
    return "-" if value is None else format(value, fmt)


def delivery_ok(result) -> bool:
    """Every prediction the devices published reached Kafka, and none was left behind."""
    traffic = result.traffic
    return result.kafka.unique_predictions == result.published and traffic.undelivered == 0


def drift_increased(result) -> bool:
    """Class-mix PSI averaged over the phase-2 windows exceeds the phase-0 average."""
    key = ("class_mix", "psi")
    before, after = result.drift_before.get(key), result.drift_after.get(key)
    return before is not None and after is not None and after.mean > before.mean


def print_summary(result, config: DemoConfig, console: Console) -> None:
    k, t = result.kafka, result.traffic
    console.rule(f"[bold]Summary: release v{result.version}")

    table = Table(title="Delivery (devices -> MQTT -> gateway -> Kafka)", title_justify="left")
    table.add_column("what")
    table.add_column("phase 0", justify="right")
    table.add_column("phase 2", justify="right")
    table.add_column("total", justify="right")
    pub = t.published
    table.add_row("predictions published by the devices (MQTT QoS 1)", str(pub.get(0, 0)),
                  str(pub.get(2, 0)), str(result.published))  # fmt: skip
    table.add_row("distinct predictions in fleet.predictions", str(k.by_phase.get(0, 0)),
                  str(k.by_phase.get(2, 0)), str(k.unique_predictions))  # fmt: skip
    table.add_row("records in fleet.predictions (incl. redeliveries)", "", "", str(k.predictions))
    table.add_row("malformed payloads sent / dead letters (any device)", "", "",
                  f"{t.malformed} / {k.dlq}")  # fmt: skip
    table.add_row("label requests (distill.label-requests)", str(k.requests_by_phase.get(0, 0)),
                  str(k.requests_by_phase.get(2, 0)), str(k.label_requests))  # fmt: skip
    table.add_row("labelled samples (distill.labeled)", "", "", str(k.labelled))
    console.print(table)
    if t.undelivered:
        console.print(f"[red]{t.undelivered} predictions were still buffered or dropped")

    drift = Table(
        title=f"Drift of release v{result.version} per window, from Prometheus "
        f"(fleet_processor_drift, {config.window_s:.0f}s windows)",
        title_justify="left",
    )
    drift.add_column("feature / statistic")
    drift.add_column("phase 0: mean (max)", justify="right")
    drift.add_column("phase 2: mean (max)", justify="right")
    for feature in DRIFT_FEATURES:
        for statistic in DRIFT_STATISTICS:
            before = result.drift_before.get((feature, statistic))
            after = result.drift_after.get((feature, statistic))
            drift.add_row(
                f"{feature} {statistic}",
                "-" if before is None else f"{before.mean:.3f} ({before.max:.3f})",
                "-" if after is None else f"{after.mean:.3f} ({after.max:.3f})",
            )
    drift.add_row(
        "low-confidence share",
        _num(result.low_conf_before, ".3f"),
        _num(result.low_conf_after, ".3f"),
    )
    console.print(drift)

    counters = Table(title="Service counters, from Prometheus", title_justify="left")
    counters.add_column("metric")
    counters.add_column("value", justify="right")
    for name, value in result.counters.items():
        counters.add_row(name, _num(value))
    console.print(counters)

    console.print(f"Labeller teacher: {result.teacher}; teacher ids {', '.join(k.teacher_ids)}")
    if k.teacher_labels:
        top = ", ".join(f"{label} {n}" for label, n in list(k.teacher_labels.items())[:9])
        console.print(f"   teacher labels: {top}")
    if k.disagreement_by_phase and result.teacher != "keyword":
        parts = [f"phase {p}: {share:.0%}" for p, share in sorted(k.disagreement_by_phase.items())]
        console.print(f"   teacher disagrees with the device on {', '.join(parts)} of samples")
    version = str(result.version)
    ours = [a for a in result.alerts if a[2].get("model_version", version) == version]
    for name, state, labels in ours:
        extra = f" model_version={labels['model_version']}" if "model_version" in labels else ""
        console.print(f"Alert [bold]{name}[/] {state}{extra}")
    if not ours:
        console.print(f"Alerts: none pending or firing ({result.alert_rules} alert rules loaded)")
    others = sorted({a[2]["model_version"] for a in result.alerts if a not in ours})
    if others:
        console.print(f"   (and alerts on other model versions: {', '.join(others)})")
    console.print("   (alerts wait 3-15 minutes before firing, so a short demo shows them pending)")
    console.print(f"Devices: {result.devices}")
    for missing in result.not_included:
        console.print(f"[yellow]Not included yet:[/] {missing}")

    ok_delivery, ok_drift = delivery_ok(result), drift_increased(result)
    console.print(
        f"{'[green]' if ok_delivery else '[red]'}{k.unique_predictions}/{result.published} "
        f"published predictions reached Kafka[/], {k.dlq} dead letter(s); "
        f"{'[green]' if ok_drift else '[yellow]'}drift after the switch "
        f"{'exceeds' if ok_drift else 'does not exceed'} drift before[/]."
    )
    console.print(
        "\nThe stack keeps running: `fleet stack status` shows it, `fleet stack down` stops it "
        "(Prometheus: http://127.0.0.1:19090, e.g. the query fleet_processor_drift)."
    )
