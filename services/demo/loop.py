"""Closing the loop: once the teacher has labeled the drifted traffic, the demo asks for a
retrain through the ops API (``fleet ops redistill``), waits for the distiller's signed release
and for the rollout manager to ship it canary -> fleet, while the devices keep classifying;
afterwards it reads what happened back from Kafka (the release manifest, the rollout record,
the devices' OTA reports).

Why an ops command and not the distiller's drift trigger: the trigger fires only after the
recorded PSI stayed above its threshold for a hold period (180 s by default, like the
``FleetDriftHigh`` alert), polled every 30 s, and needs a minimum of new samples; how soon that
happens depends on window timing and scrape alignment. An ops ``Redistill`` sent once the
labels are stored starts the same cycle at a known point, so the demo's timeline (and the test
that runs it) is deterministic, and it shows the control API's path as well.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from contract.schemas import ReleaseManifest
from contract.schemas.rollout import RolloutRecord
from services.demo import artifacts
from services.errors import ServiceError
from services.promql import Prometheus

if TYPE_CHECKING:
    from services.demo.run import Demo

DISTILLER_OUTCOMES = ("published", "rejected_by_gate", "failed")


@dataclass(frozen=True)
class Times:
    started: float  # traffic starts (a window boundary)
    switch: float  # phase 0 -> phase 2 (a window boundary)
    v1_end: float  # end of the phase-2 traffic measured on release 1 (a window boundary)
    v2_start: float = math.nan  # every device runs release 2 from this window boundary on ...
    end: float = math.nan  # ... until the traffic ends (a window boundary)


@dataclass
class LoopResult:
    redistill_at: float | None = None  # when the cycle was asked for (Unix time): the ops
    # command accepted, or (--auto) the distiller's drift trigger fired
    trigger: str = "ops redistill"  # what asked: "ops redistill" | "drift trigger"
    command_id: str = ""
    samples: int = 0  # labeled samples in the distiller's store when it was asked
    outcome: str = ""  # the cycle's: published | rejected_by_gate | failed | "" (no answer)
    cycle_s: float | None = None  # the distiller's wall time for the cycle (Prometheus)
    version: int | None = None  # the release the cycle published
    manifest: ReleaseManifest | None = None  # as read back from model.releases
    signed: bool = False  # its signature verifies against var/keys/release.pub
    rollout: RolloutRecord | None = None  # the release's last record in model.rollouts
    all_on_new_at: float | None = None  # every demo device runs the new release (device side)
    confirmed_at: dict[str, float] = field(default_factory=dict)  # device -> OTA confirmed ts
    final_versions: dict[str, int] = field(default_factory=dict)  # device -> of its last
    # prediction (statuses would do, but a test elsewhere may run an agent with the same id)
    chunks_served: float | None = None  # by the rollout manager (Prometheus)
    closed: bool = False  # a release was published, and every demo device confirmed it
    problem: str = ""  # why the loop did not close


def wait_until(check: Callable[[], bool], timeout_s: float, alive: Callable[[], None]) -> bool:
    """Poll ``check`` every half second; False after ``timeout_s``. ``alive`` raises when a
    service the demo depends on died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        alive()
        if check():
            return True
        time.sleep(0.5)
    return False


def labels_stored(prom: Prometheus) -> bool:
    """Every label the labeler produced was read by the distiller (stored or a duplicate)."""
    labeled = prom.scalar("sum(fleet_labeler_labels_total)") or 0
    stored = prom.scalar("sum(fleet_distiller_samples_stored_total)") or 0
    skipped = prom.scalar("sum(fleet_distiller_samples_skipped_total)") or 0
    backlog = prom.scalar("sum(fleet_labeler_backlog)")
    return labeled > 0 and backlog == 0 and stored + skipped >= labeled


def redistill(max_steps: int, reason: str, logs: Path) -> tuple[str, float]:
    """``fleet ops redistill`` through the control API; (command id, its timestamp)."""
    out = artifacts.fleet(
        ["ops", "redistill", "--max-steps", str(max_steps), "--reason", reason],
        logs / "ops-redistill.log",
        timeout_s=60,
    )
    try:
        command = json.loads(out.strip().splitlines()[-1])
        return str(command["command_id"]), float(command["ts"])
    except (ValueError, KeyError, IndexError) as exc:
        raise ServiceError(f"fleet ops redistill answered {out[-500:]!r}") from exc


def cycle_outcome(prom: Prometheus) -> str:
    """The outcome of the distiller's ops-triggered cycle, "" while none finished."""
    for outcome in DISTILLER_OUTCOMES:
        expr = f'sum(fleet_distiller_retrains_total{{trigger="ops",outcome="{outcome}"}})'
        if (prom.scalar(expr) or 0) >= 1:
            return outcome
    return ""


def read_back(
    records: dict[str, list[bytes]],
    topics: dict[str, str],
    result: LoopResult,
    devices: set[str],
    public_key: bytes,
) -> None:
    """Fill ``result`` from this run's records: the new release's manifest (and whether its
    signature verifies), its last rollout record and each device's OTA confirmation of it.
    (``final_versions`` comes from the predictions, see ``report.count_records``.)"""
    from contract.errors import SignatureError, ValidationError
    from contract.schemas import parse_device_status, parse_release_manifest, parse_rollout_record
    from contract.signing import verify

    version = result.version
    for raw in records.get(topics["releases"], []):
        try:
            manifest = parse_release_manifest(raw)
        except ValidationError:
            continue
        if manifest.version == version:
            result.manifest = manifest
    if result.manifest is not None:
        try:
            verify(result.manifest, public_key)
            result.signed = True
        except SignatureError:
            result.signed = False
    for raw in records.get(topics["rollouts"], []):
        try:
            record = parse_rollout_record(raw)
        except ValidationError:
            continue
        if record.version == version:
            result.rollout = record
    for raw in records.get(topics["status"], []):
        try:
            status = parse_device_status(raw)
        except ValidationError:
            continue
        ota = status.ota
        if status.device_id not in devices or ota is None or ota.step != "confirmed":
            continue
        if ota.release_version == version:
            result.confirmed_at.setdefault(status.device_id, status.ts)


def timeline(result: LoopResult) -> list[tuple[str, float]]:
    """(event, Unix time) of the loop, in order: redistill, release, each stage's start and
    pass, the first and the last device confirmation, completion."""
    events: list[tuple[str, float]] = []
    if result.redistill_at is not None:
        what = "accepted" if result.trigger == "ops redistill" else "fired"
        events.append((f"{result.trigger} {what}", result.redistill_at))
    if result.manifest is not None:
        events.append((f"release v{result.version} published", result.manifest.created.timestamp()))
    record = result.rollout
    if record is not None:
        for event in record.history:
            if event.event in ("stage_started", "stage_passed", "completed", "halted"):
                events.append((f"rollout {event.event} {event.detail}".strip(), event.ts))
    if result.confirmed_at:
        events.append(("first device confirmed", min(result.confirmed_at.values())))
        events.append((f"all {len(result.confirmed_at)} devices confirmed",
                       max(result.confirmed_at.values())))  # fmt: skip
    return sorted(events, key=lambda e: e[1])


def close(demo: Demo, prom: Prometheus, times: Times, scrape_s: float) -> Times:
    """Redistill -> signed release -> canary -> fleet, while the devices keep sending
    phase-2 messages; then ``after_s`` more seconds of traffic on the new release."""
    c, r = demo.config, demo.result.loop
    assert demo.fleet is not None, "traffic() starts the fleet"
    demo.say("[bold]5. The loop[/]: teacher labels -> distiller -> signed release -> rollout")
    # 1. The labels of the phase-2 windows so far are stored by the distiller.
    if not wait_until(lambda: labels_stored(prom), 60 + 2 * scrape_s, demo.alive):
        demo.say("   [yellow]not every label reached the distiller within a minute[/]")
    r.samples = int(prom.scalar("sum(fleet_distiller_samples)") or 0)
    # 2. Ask for a retrain through the ops API, as an operator would.
    reason = f"demo: drift after the switch, {r.samples} labeled samples"
    r.command_id, r.redistill_at = redistill(c.distill_steps, reason, demo.logs)
    demo.say(
        f"   fleet ops redistill --max-steps {c.distill_steps}: command {r.command_id[:8]}.. "
        f"accepted by the control API ({r.samples} labeled samples stored)"
    )
    # 3. The distiller's cycle: fine-tune, gate, sign, store, publish.
    got = wait_until(lambda: bool(cycle_outcome(prom)), c.loop_timeout_s, demo.alive)
    r.outcome = cycle_outcome(prom) if got else ""
    if r.outcome == "published":
        time.sleep(scrape_s + 1)  # the gauge is set after the counter
        r.version = int(prom.scalar("max(fleet_distiller_last_published_version)") or 0)
        seconds = prom.scalar("sum(fleet_distiller_cycle_seconds_sum)")
        r.cycle_s = seconds
        demo.say(
            f"   distiller: release v{r.version} published after "
            f"{'-' if seconds is None else f'{seconds:.0f}s'} (gate passed)"
        )
        await_rollout(demo, prom, r)
    else:
        r.problem = f"the distiller's cycle: {r.outcome or 'no answer'}"
        demo.say(f"   [red]{r.problem}[/] (see {demo.logs / 'distiller.log'})")
    # 4. Traffic on the new release for whole windows, then stop.
    w = c.window_s
    v2_start = math.ceil(time.time() / w) * w
    end = v2_start + math.ceil(c.after_s / w) * w
    demo.fleet.finish_at(end)
    demo.progress(prom, times.started, end)
    demo.result.traffic = demo.fleet.stop()
    demo.fleet = None
    return replace(times, v2_start=v2_start, end=end)


def await_rollout(demo: Demo, prom: Prometheus, r: LoopResult) -> None:
    """Until every device runs ``r.version`` (or the rollout halts, or the loop timeout)."""
    fleet = demo.fleet
    assert fleet is not None and r.version is not None
    halted = f'max(fleet_rollout_status{{version="{r.version}",status="halted"}})'
    last = 0.0

    def done() -> bool:
        nonlocal last
        if time.monotonic() - last >= 5:
            last = time.monotonic()
            on = sum(v == r.version for v in fleet.versions().values())
            confirmed = prom.query(
                f'fleet_rollout_devices{{version="{r.version}",outcome="confirmed"}}'
            )
            groups = ", ".join(f"{m['group']} {v:.0f}" for m, v in sorted(
                confirmed, key=lambda row: row[0]["group"]))  # fmt: skip
            demo.say(
                f"   rollout of v{r.version}: {on}/{len(fleet.versions())} devices run it; "
                f"confirmed per group (Prometheus): {groups or '-'}"
            )
        if (prom.scalar(halted) or 0) >= 1:
            raise _Halted
        return all(v == r.version for v in fleet.versions().values())

    try:
        if wait_until(done, demo.config.loop_timeout_s, demo.alive):
            r.all_on_new_at = time.time()
            demo.say(f"   [green]every device runs release v{r.version}[/]")
        else:
            r.problem = f"not every device runs v{r.version} after the timeout"
    except _Halted:
        r.problem = f"the rollout of v{r.version} halted (see {demo.logs / 'rollout.log'})"
    if r.problem:
        demo.say(f"   [red]{r.problem}[/]")


class _Halted(Exception):
    """The rollout manager halted the new release (raised out of a wait)."""
