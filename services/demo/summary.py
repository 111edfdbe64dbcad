"""The demo's closing summary: delivery, drift before and after the switch, labeling, alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from services.demo.config import DemoConfig
from services.demo.gold import Tally
from services.demo.report import DRIFT_FEATURES, DRIFT_STATISTICS, DriftWindowStats

if TYPE_CHECKING:
    from services.demo.run import DemoResult


def _num(value: float | None, fmt: str = ".0f") -> str:
    return "-" if value is None else format(value, fmt)


def delivery_ok(result: DemoResult) -> bool:
    """Every prediction the devices published reached Kafka, and none was left behind."""
    traffic = result.traffic
    return result.kafka.unique_predictions == result.published and traffic.undelivered == 0


def loop_closed(result: DemoResult) -> bool:
    """The distiller published a signed release, every device of the demo confirmed it, and
    predictions made with it reached Kafka."""
    return result.loop.closed


def low_confidence_fell(result: DemoResult) -> bool:
    """The new release is less often unsure on phase-2 traffic than the first one was."""
    before, after = result.low_conf_after, result.low_conf_new
    return before is not None and after is not None and after < before


def drift_increased(result: DemoResult) -> bool:
    """Class-mix PSI averaged over the phase-2 windows exceeds the phase-0 average."""
    key = ("class_mix", "psi")
    before, after = result.drift_before.get(key), result.drift_after.get(key)
    return before is not None and after is not None and after.mean > before.mean


def print_summary(result: DemoResult, config: DemoConfig, console: Console) -> None:
    k, t = result.kafka, result.traffic
    then = f" -> v{result.loop.version}" if result.loop.version else ""
    console.rule(f"[bold]Summary: release v{result.version}{then}")

    table = Table(title="Delivery (devices -> MQTT -> gateway -> Kafka)", title_justify="left")
    table.add_column("what")
    for phase in result.phases:
        table.add_column(f"phase {phase}", justify="right")
    table.add_column("total", justify="right")
    pub, blank = t.published, [""] * len(result.phases)

    def per_phase(counts: dict[int, int]) -> list[str]:
        return [str(counts.get(p, 0)) for p in result.phases]

    table.add_row("predictions published by the devices (MQTT QoS 1)", *per_phase(pub),
                  str(result.published))  # fmt: skip
    table.add_row("distinct predictions in fleet.predictions", *per_phase(k.by_phase),
                  str(k.unique_predictions))  # fmt: skip
    table.add_row("records in fleet.predictions (incl. redeliveries)", *blank, str(k.predictions))
    for version, n in sorted(k.by_version.items()):
        made = {p: tally.total for (p, v), tally in k.gold_live.items() if v == version}
        table.add_row(f"   of them made by release v{version}", *per_phase(made), str(n))
    table.add_row("malformed payloads sent / dead letters (any device)", *blank,
                  f"{t.malformed} / {k.dlq}")  # fmt: skip
    table.add_row("label requests (distill.label-requests)", *per_phase(k.requests_by_phase),
                  str(k.label_requests))  # fmt: skip
    table.add_row("labeled samples (distill.labeled)", *blank, str(k.labeled))
    console.print(table)
    if t.undelivered:
        console.print(f"[red]{t.undelivered} predictions were still buffered or dropped")

    new, p1 = result.loop.version, result.phases[1]
    drift = Table(
        title=f"Drift per window, from Prometheus (fleet_processor_drift against each release's "
        f"reference profile, {config.window_s:.0f}s windows): mean (max)",
        title_justify="left",
    )
    drift.add_column("feature / statistic")
    drift.add_column(f"phase 0 on v{result.version}", justify="right")
    drift.add_column(f"phase {p1} on v{result.version}", justify="right")
    drift.add_column(f"phase {p1} on v{new}" if new else f"phase {p1} on the new release",
                     justify="right")  # fmt: skip

    def cell(stats: DriftWindowStats | None) -> str:
        return "-" if stats is None else f"{stats.mean:.3f} ({stats.max:.3f})"

    for feature in DRIFT_FEATURES:
        for statistic in DRIFT_STATISTICS:
            key = (feature, statistic)
            drift.add_row(
                f"{feature} {statistic}",
                cell(result.drift_before.get(key)),
                cell(result.drift_after.get(key)),
                cell(result.drift_new.get(key)),
            )
    drift.add_row(
        "low-confidence share",
        _num(result.low_conf_before, ".3f"),
        _num(result.low_conf_after, ".3f"),
        _num(result.low_conf_new, ".3f"),
    )
    console.print(drift)
    print_gold(result, console)
    if result.rounds:
        from services.demo.auto import print_rounds

        print_rounds(result, console)
    print_loop(result, console)

    counters = Table(title="Service counters, from Prometheus", title_justify="left")
    counters.add_column("metric")
    counters.add_column("value", justify="right")
    for name, value in result.counters.items():
        counters.add_row(name, _num(value))
    console.print(counters)

    if k.entity_samples:  # the release's blob has a tagging section: devices send entities
        console.print(f"Entities found on the devices: {k.with_entities} of "
                      f"{k.unique_predictions} predictions carry some; for example")  # fmt: skip
        for line in k.entity_samples:
            console.print(f"   {line}", markup=False)
    console.print(f"Labeler teacher: {result.teacher}; teacher ids {', '.join(k.teacher_ids)}")
    if k.teacher_labels:
        top = ", ".join(f"{label} {n}" for label, n in list(k.teacher_labels.items())[:9])
        console.print(f"   teacher labels: {top}")
    if k.disagreement_by_phase and result.teacher != "keyword":
        parts = [f"phase {p}: {share:.0%}" for p, share in sorted(k.disagreement_by_phase.items())]
        console.print(f"   teacher disagrees with the device on {', '.join(parts)} of samples")
    ours_label = str(result.version)
    ours = [a for a in result.alerts if a[2].get("model_version", ours_label) == ours_label]
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
    loop = result.loop
    if loop_closed(result):
        fell, p1 = low_confidence_fell(result), result.phases[1]
        released = [rnd.loop.version for rnd in result.rounds] or [loop.version]
        how = "by the distiller's drift trigger, no command: " if result.rounds else ""
        console.print(
            f"[green]The loop closed[/] {how}release{'s' if len(released) > 1 else ''} "
            f"{' then '.join(f'v{v}' for v in released)} (signed) on all {len(loop.confirmed_at)} "
            f"devices; low-confidence share on phase-{p1} traffic "
            f"{_num(result.low_conf_after, '.3f')} on v{result.version} -> "
            f"{'[green]' if fell else '[yellow]'}{_num(result.low_conf_new, '.3f')}[/] on "
            f"v{loop.version}."
        )
        for line in gold_lines(result):
            console.print(line)
    else:
        console.print(f"[red]The loop did not close[/]: {loop.problem or 'see the loop table'}")
    for picture in result.pictures:
        console.print(f"Picture: {picture}")
    console.print(
        "\nThe stack keeps running: `fleet stack status` shows it, `fleet stack down` stops it "
        "(Prometheus: http://127.0.0.1:19090, e.g. the query fleet_processor_drift)."
    )


def gold_lines(result: DemoResult) -> list[str]:
    """One line per new release: gold accuracy on the phase it was made for, before and
    after, on the test set and in the fleet's own predictions."""
    g, k, lines = result.gold, result.kafka, []
    rounds = [(rnd.phase, rnd.version, rnd.loop.version) for rnd in result.rounds]
    if not rounds and result.loop.version:
        rounds = [(result.phases[1], result.version, result.loop.version)]
    for phase, old, new in rounds:
        if new not in g.releases or old not in g.releases:
            continue
        before, after = g.releases[old][phase], g.releases[new][phase]
        live_old, live_new = k.gold_live.get((phase, old)), k.gold_live.get((phase, new))
        live = (f"; the fleet's own answers {live_old.accuracy:.3f} -> {live_new.accuracy:.3f}"
                if live_old and live_new and live_old.total and live_new.total else "")  # fmt: skip
        colour = "[green]" if after > before else "[red]"
        lines.append(f"   against the truth, phase {phase}: v{old} {before:.3f} -> {colour}v{new} "
                     f"{after:.3f}[/] on its test set{live}")  # fmt: skip
    return lines


def print_gold(result: DemoResult, console: Console) -> None:
    """Accuracy against the corpus' gold labels: every release of the run on every phase's
    test set (the devices' C engine), the fleet's own predictions, and the teacher."""
    g, k = result.gold, result.kafka
    if not g.releases:
        return
    table = Table(title="Accuracy against the truth (the corpus' gold labels): test set of each "
                  "phase on the devices' C engine; in brackets the fleet's own predictions on "
                  "the phase's traffic (fleet.predictions)", title_justify="left")  # fmt: skip
    table.add_column("model")
    for phase in result.phases:
        table.add_column(f"phase {phase}", justify="right")

    def live(tally: Tally | None) -> str:
        return "" if tally is None or not tally.total else f" ({tally.accuracy:.3f})"

    for version, scores in sorted(g.releases.items()):
        table.add_row(f"release v{version}", *(
            f"{scores[p]:.3f}{live(k.gold_live.get((p, version)))}" if p in scores else "-"
            for p in result.phases))  # fmt: skip
    if g.teacher_test or k.teacher_gold:
        table.add_row(f"teacher ({'test set' if g.teacher_test else 'its labels'}; in brackets "
                      "its labels of the sampled messages)", *(
            (f"{g.teacher_test[p]:.3f}" if p in g.teacher_test else "-")
            + live(k.teacher_gold.get(p)) for p in result.phases))  # fmt: skip
    console.print(table)


def print_loop(result: DemoResult, console: Console) -> None:
    """Labels used, the gate, the rollout timeline and the device versions at the end."""
    from collections import Counter

    from services.demo.loop import timeline

    loop, k = result.loop, result.kafka
    asked = (
        f"ops redistill with {loop.samples} labeled samples stored"
        if loop.trigger == "ops redistill"
        else "drift trigger (round 1)"
    )
    console.print(
        f"[bold]The loop[/]: {asked} -> distiller cycle {loop.outcome or '(no answer)'}"
        + (f" in {loop.cycle_s:.0f}s" if loop.cycle_s is not None else "")
    )
    manifest = loop.manifest
    if manifest is not None:
        m = manifest.metrics
        console.print(
            f"   release v{loop.version}: {manifest.size} bytes, signature "
            f"{'[green]verifies[/]' if loop.signed else '[red]does not verify[/]'} against "
            f"var/keys/release.pub; trained on {m.get('train_new', 0):.0f} teacher-labeled "
            f"samples + {m.get('train_replay', 0):.0f} replay rows, gated on "
            f"{m.get('gate_holdout', 0):.0f} held out"
        )
        gate = Table(title=f"Gate of v{loop.version} (from its manifest)", title_justify="left")
        gate.add_column("accuracy on")
        gate.add_column(f"v{result.version}", justify="right")
        gate.add_column(f"v{loop.version} float", justify="right")
        gate.add_column(f"v{loop.version} int8", justify="right")
        gate.add_row("held-out teacher labels", _num(m.get("gate_new_accuracy_old"), ".3f"),
                     _num(m.get("gate_new_accuracy_candidate"), ".3f"),
                     _num(m.get("gate_new_accuracy_candidate_int8"), ".3f"))  # fmt: skip
        gate.add_row("replay set (phase-0 gold labels)",
                     _num(m.get("gate_replay_accuracy_old"), ".3f"),
                     _num(m.get("gate_replay_accuracy_candidate"), ".3f"), "")  # fmt: skip
        console.print(gate)
    events = timeline(loop)
    if events:
        t0 = events[0][1]
        rows = Table(title="Timeline (Kafka: ops.commands, model.releases, model.rollouts, "
                     "fleet.device-status)", title_justify="left")  # fmt: skip
        rows.add_column("+s", justify="right")
        rows.add_column("event")
        for event, ts in events:
            rows.add_row(f"{ts - t0:.1f}", event)
        console.print(rows)
    if loop.final_versions:
        versions = Counter(loop.final_versions.values())
        parts = ", ".join(f"v{v}: {n}" for v, n in sorted(versions.items()))
        console.print(f"   model version of each device's last prediction: {parts}")
    if loop.version:
        made = k.by_version.get(loop.version, 0)
        console.print(f"   predictions made by v{loop.version} in fleet.predictions: {made}")
