"""The automatic loop (``python -m services.demo --auto``): nobody sends a command.

Each drift phase runs until the loop has answered it: the processor's windows drift from the
release's reference profile, Prometheus records ``fleet:drift_psi:max`` (``FleetDriftHigh``
goes pending, and fires after its ``for: 3m``), the distiller's drift trigger finds the PSI
above its threshold for its whole hold period (by default the alert's 3 minutes, so alert
and trigger agree), runs a cycle on the labels the teacher gave meanwhile, gates, signs and
publishes the next release, and the rollout manager ships it canary -> fleet. After
``after_s`` on the new release the traffic moves to the next phase and the next round
begins. The demo only watches: Prometheus for the cycle and the rollout, Kafka afterwards
for the timeline (release manifests, rollout records, the devices' OTA reports).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from services.demo.loop import LoopResult, Times, await_rollout, wait_until
from services.promql import Prometheus

if TYPE_CHECKING:
    from services.demo.run import Demo, DemoResult


@dataclass
class Round:
    phase: int  # the traffic phase that drifted
    onset: float  # traffic switched to it (a window boundary)
    version: int  # the release the devices ran when it began
    loop: LoopResult = field(default_factory=LoopResult)  # the release this round made
    alert_pending_at: float | None = None  # FleetDriftHigh for ``version``, from ALERTS
    alert_firing_at: float | None = None
    end: float = math.nan  # the next phase began, or the traffic ended


def drift_cycles(prom: Prometheus) -> tuple[int, int]:
    """(published, rejected or failed) cycles the drift trigger started."""
    published = prom.scalar('sum(fleet_distiller_retrains_total{trigger="drift",'
                            'outcome="published"})') or 0  # fmt: skip
    other = prom.scalar('sum(fleet_distiller_retrains_total{trigger="drift",'
                        'outcome!="published"})') or 0  # fmt: skip
    return int(published), int(other)


def close(demo: Demo, prom: Prometheus, times: Times, scrape_s: float) -> Times:
    """One automatic round per drift phase; returns the times of the first round (the
    ordinary summary's phase windows) with the end of the traffic."""
    c, fleet, r = demo.config, demo.fleet, demo.result
    assert fleet is not None, "traffic() starts the fleet"
    demo.say("[bold]5. The automatic loop[/]: drift -> FleetDriftHigh / the distiller's drift "
             f"trigger (PSI > 0.2 for {c.drift_hold_s:.0f}s) -> gate -> canary -> fleet, "
             "no command")  # fmt: skip
    w, onset, first = c.window_s, times.switch, times
    version = r.version
    for k, phase in enumerate(c.drift_phases):
        rnd = Round(phase, onset, version)
        r.rounds.append(rnd)
        if k == 0:
            r.loop = rnd.loop
        demo.say(f"   round {k + 1}: phase {phase} on v{version} since "
                 f"{time.strftime('%H:%M:%S', time.localtime(onset))}; waiting for the "
                 "distiller's drift trigger")  # fmt: skip
        wanted = k + 1

        def released(wanted: int = wanted) -> bool:
            return drift_cycles(prom)[0] >= wanted

        if not wait_until(released, c.loop_timeout_s, demo.alive):
            published, other = drift_cycles(prom)
            rnd.loop.problem = (f"no drift-triggered release within {c.loop_timeout_s:.0f}s "
                                f"({published} published, {other} rejected or failed)")  # fmt: skip
            demo.say(f"   [red]{rnd.loop.problem}[/] (see {demo.logs / 'distiller.log'})")
            rnd.end = time.time()
            break
        published_at = time.time()

        def newest() -> int:
            return int(prom.scalar("max(fleet_distiller_last_published_version)") or 0)

        def gauge_moved(old: int = version) -> bool:  # the gauge is set after the counter
            return newest() > old

        wait_until(gauge_moved, c.loop_timeout_s, demo.alive)
        rnd.loop.outcome = "published"
        rnd.loop.version = newest()
        demo.say(f"   distiller: drift cycle published v{rnd.loop.version}")
        await_rollout(demo, prom, rnd.loop)
        if rnd.loop.problem:
            rnd.end = time.time()
            break
        # the new release's own windows, then the next phase from a window boundary
        version = rnd.loop.version
        start_new = math.ceil(time.time() / w) * w
        onset = start_new + math.ceil(c.after_s / w) * w
        rnd.end = onset
        if k == 0:
            first = Times(times.started, times.switch, published_at, start_new, onset)
        if k + 1 < len(c.drift_phases):
            fleet.switch_at(onset, c.drift_phases[k + 1])
        else:
            fleet.finish_at(onset)
        demo.progress(prom, times.started, onset)
    else:
        r.traffic = fleet.stop()
        demo.fleet = None
        return first
    now = time.time()
    fleet.finish_at(now)
    r.traffic = fleet.stop()
    demo.fleet = None
    v1_end = first.v1_end if math.isfinite(first.v1_end) else now
    return Times(first.started, first.switch, v1_end, first.v2_start, now)


def alert_times(prom: Prometheus, rnd: Round, step_s: float) -> None:
    """When FleetDriftHigh went pending and firing for the round's release, after its onset."""
    end = rnd.end if math.isfinite(rnd.end) else time.time()
    for state in ("pending", "firing"):
        expr = (f'ALERTS{{alertname="FleetDriftHigh",alertstate="{state}",'
                f'model_version="{rnd.version}"}}')  # fmt: skip
        series = prom.query_range(expr, rnd.onset, end, step_s)
        stamps = [ts for s in series for ts, _ in s.points]
        if stamps:
            setattr(rnd, f"alert_{state}_at", min(stamps))


def trigger_time(rnd: Round) -> None:
    """The round's cycle was asked for by the drift trigger, when its manifest says."""
    rnd.loop.trigger = "drift trigger"
    m = rnd.loop.manifest
    if m is not None and "cycle_started_at" in m.metrics:
        rnd.loop.redistill_at = m.metrics["cycle_started_at"]


def print_rounds(result: DemoResult, console: Console) -> None:
    """Per round: seconds from the drift's onset to the alert, the trigger, the release,
    canary passed and the last device confirmed."""
    table = Table(title="The automatic rounds: seconds from the drift's onset (Prometheus "
                  "ALERTS, the release manifest, model.rollouts, fleet.device-status)",
                  title_justify="left")  # fmt: skip
    for column in ("round", "drift", "FleetDriftHigh pending / firing", "drift trigger",
                   "release published", "canary passed", "last device", "devices"):  # fmt: skip
        table.add_column(column, justify="right" if column != "drift" else "left")

    def since(ts: float | None, onset: float) -> str:
        return "-" if ts is None else f"+{ts - onset:.0f}"

    for k, rnd in enumerate(result.rounds):
        loop, m = rnd.loop, rnd.loop.manifest
        published = m.created.timestamp() if m is not None else None
        started = m.metrics.get("cycle_started_at") if m is not None else None
        passed = None
        if loop.rollout is not None:
            passes = [e.ts for e in loop.rollout.history if e.event == "stage_passed"
                      and "canary" in e.detail]  # fmt: skip
            passed = min(passes) if passes else None
        last = max(loop.confirmed_at.values()) if loop.confirmed_at else None
        table.add_row(
            str(k + 1), f"phase {rnd.phase} on v{rnd.version} -> v{loop.version or '-'}",
            f"{since(rnd.alert_pending_at, rnd.onset)} / {since(rnd.alert_firing_at, rnd.onset)}",
            since(started, rnd.onset), since(published, rnd.onset), since(passed, rnd.onset),
            since(last, rnd.onset), str(len(loop.confirmed_at)),
        )  # fmt: skip
    console.print(table)
    for rnd in result.rounds:
        if rnd.loop.problem:
            console.print(f"[red]round on phase {rnd.phase}: {rnd.loop.problem}[/]")


def rounds_closed(result: DemoResult, devices: set[str]) -> bool:
    """Every drift phase got a signed release that every device confirmed."""
    return len(result.rounds) == len(result.phases) - 1 and all(
        rnd.loop.manifest is not None and rnd.loop.signed
        and set(rnd.loop.confirmed_at) == devices for rnd in result.rounds
    )  # fmt: skip
