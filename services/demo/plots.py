"""The demo's pictures, written next to its summary (``<var_dir>/summary/``):

- ``drift.png``: class-mix and confidence PSI and the low-confidence share of every window,
  per release, from Prometheus range queries over the run, with the phase switch, the ops
  redistill, release 2's publication and the moment every device ran it;
- ``rollout.png``: the rollout of the new release, stage by stage (rolling out, baking) and
  the devices' confirmations over time;
- ``accuracy.png``: accuracy before and after the retrain on each phase's traffic, as the
  summary reports it (the gate's scores from the release manifest).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from services.promql import Prometheus

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


def _markers(ax: Any, events: Sequence[tuple[str, float]], t0: float) -> None:
    for i, (label, ts) in enumerate(events):
        if not math.isfinite(ts):
            continue
        ax.axvline(ts - t0, color="#555", linestyle="--", linewidth=0.9)
        ax.annotate(label, (ts - t0, 1), xycoords=("data", "axes fraction"), rotation=90,
                    va="top", ha="right", fontsize=7, color="#333",
                    xytext=(-2, -2 - 0 * i), textcoords="offset points")  # fmt: skip


def drift_plot(
    prom: Prometheus,
    versions: Sequence[int],
    start: float,
    end: float,
    step_s: float,
    events: Sequence[tuple[str, float]],
    out: Path,
) -> Path:
    """Three panels over the run (seconds from ``start``), one line per release."""
    plt = _pyplot()
    selector = "|".join(str(v) for v in versions)
    panels = (
        ("class-mix PSI", f'fleet_processor_drift{{model_version=~"{selector}",'
                          'feature="class_mix",statistic="psi"}'),
        ("confidence PSI", f'fleet_processor_drift{{model_version=~"{selector}",'
                           'feature="confidence",statistic="psi"}'),
        ("low-confidence share",
         f'fleet_processor_window_low_confidence_ratio{{model_version=~"{selector}"}}'),
    )  # fmt: skip
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 7.5), sharex=True)
    for ax, (title, expr) in zip(axes, panels, strict=True):
        for series in prom.query_range(f"max by (model_version) ({expr})", start, end, step_s):
            version = series.labels.get("model_version", "?")
            colour = (
                COLOURS[versions.index(int(version)) % len(COLOURS)] if version.isdigit() else None
            )
            xs = [t - start for t, _ in series.points]
            ax.step(xs, [v for _, v in series.points], where="post", label=f"release v{version}",
                    color=colour, linewidth=1.4)  # fmt: skip
        _markers(ax, events, start)
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    axes[0].set_title("Drift and low-confidence share per processor window (Prometheus)")
    axes[-1].set_xlabel("seconds since the devices started")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def rollout_plot(
    stages: Sequence[dict[str, Any]],
    confirmed_at: dict[str, float],
    t0: float,
    version: int,
    out: Path,
    origin: str = "ops redistill",
) -> Path:
    """Stage bars (rolling out -> baking) above the count of devices that confirmed; seconds
    since ``t0``, when ``origin`` asked for the cycle."""
    plt = _pyplot()
    fig, (bars, count) = plt.subplots(2, 1, figsize=(9, 5), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 2]})  # fmt: skip
    for i, stage in enumerate(stages):
        began, met, done = stage.get("started_at"), stage.get("met_at"), stage.get("finished_at")
        if began is None:
            continue
        until = met if met is not None else done
        if until is not None:
            bars.barh(i, until - began, left=began - t0, color="#1f77b4",
                      label="rolling out" if i == 0 else None)  # fmt: skip
        if met is not None and done is not None:
            bars.barh(i, done - met, left=met - t0, color="#9ecae1",
                      label="baking" if i == 0 else None)  # fmt: skip
        outcomes = stage.get("outcomes") or {}
        summary = ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) or "no reports"
        bars.annotate(f"{stage['group']}: {summary}", (began - t0, i), xytext=(2, 8),
                      textcoords="offset points", fontsize=8)  # fmt: skip
    bars.set_yticks(range(len(stages)), [s["group"] for s in stages])
    bars.invert_yaxis()
    bars.legend(loc="lower right", fontsize=8)
    bars.set_title(f"Rollout of release v{version} (model.rollouts, fleet.device-status)")
    times = sorted(ts - t0 for ts in confirmed_at.values())
    count.step(times, range(1, len(times) + 1), where="post", color="#2ca02c")
    count.set_ylabel("devices confirmed")
    count.set_xlabel(f"seconds since the {origin}")
    count.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def accuracy_plot(
    rows: Sequence[tuple[str, float | None, float | None]],
    old: int,
    new: int | None,
    out: Path,
) -> Path:
    """Grouped bars: (what, accuracy of the old release, of the new one) per row."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    width = 0.38
    for j, (label, colour) in enumerate(((f"v{old}", "#1f77b4"), (f"v{new}", "#2ca02c"))):
        values = [r[1 + j] for r in rows]
        xs = [i + (j - 0.5) * width for i in range(len(rows))]
        ax.bar(xs, [v or 0 for v in values], width, label=label, color=colour)
        for x, v in zip(xs, values, strict=True):
            ax.annotate("-" if v is None else f"{v:.3f}", (x, v or 0), ha="center",
                        xytext=(0, 2), textcoords="offset points", fontsize=8)  # fmt: skip
    ax.set_xticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.set_ylim(0, 1.08)
    ax.set_ylabel("accuracy")
    ax.set_title("Accuracy per phase, before and after the retrain")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_all(
    result: Any, prom: Prometheus, times: Any, scrape_s: float, out_dir: Path
) -> list[Path]:
    """Every plot of one demo run (``result``: the DemoResult, ``times``: its Times);
    returns the files written. A plot whose data is missing is left out."""
    from services.demo.loop import timeline

    out_dir.mkdir(parents=True, exist_ok=True)
    loop = result.loop
    versions = [result.version, *([loop.version] if loop.version else [])]
    events = [("phase 2 starts", times.switch)]
    events += [
        (name, ts) for name, ts in timeline(loop) if name.startswith(("ops ", "drift ", "release"))
    ][:2]
    if loop.version and math.isfinite(times.v2_start):
        events.append((f"all devices on v{loop.version}", times.v2_start))
    end = times.end if math.isfinite(times.end) else times.v1_end
    written = [
        drift_plot(prom, versions, times.started, end + 5, scrape_s, events, out_dir / "drift.png")
    ]
    if loop.rollout is not None and loop.redistill_at is not None:
        stages = [
            {
                "group": s.group,
                "started_at": s.started_at,
                "met_at": s.met_at,
                "finished_at": s.finished_at,
                "outcomes": {
                    o: list(s.outcomes.values()).count(o) for o in set(s.outcomes.values())
                },
            }
            for s in loop.rollout.stages
        ]
        written.append(
            rollout_plot(
                stages,
                loop.confirmed_at,
                loop.redistill_at,
                loop.version or 0,
                out_dir / "rollout.png",
                loop.trigger,
            )
        )
    if loop.manifest is not None:
        m = loop.manifest.metrics
        rows = [
            ("phase 0: replay set\n(gold labels)", m.get("gate_replay_accuracy_old"),
             m.get("gate_replay_accuracy_candidate")),
            ("phase 2: held-out\n(teacher labels)", m.get("gate_new_accuracy_old"),
             m.get("gate_new_accuracy_candidate")),
            ("phase 2: held-out, int8\n(teacher labels)", m.get("gate_new_accuracy_old"),
             m.get("gate_new_accuracy_candidate_int8")),
        ]  # fmt: skip
        written.append(accuracy_plot(rows, result.version, loop.version, out_dir / "accuracy.png"))
    return written


def pictures(result: Any, settings: Any, prom: Prometheus, times: Any, var: Path) -> list[Path]:
    """The plots and a screenshot of the ops page (while the control API still runs), in
    ``<var>/summary/``; a picture that cannot be made is reported, never fatal."""
    from services.errors import ServiceError

    out = var / "summary"
    written: list[Path] = []
    try:
        written += write_all(result, prom, times, settings.stack.prometheus.scrape_interval_s, out)
    except (ServiceError, ValueError, OSError) as exc:
        result.not_included.append(f"plots: {exc}")
    try:
        from services.control.auth import read_token
        from services.control.browser import screenshot

        token = read_token(settings.data_dir / "keys" / "ops.token")
        url = f"http://{settings.stack.host}:{settings.metrics_ports.control}"
        minutes = max(5, math.ceil((time.time() - times.started) / 60) + 1)
        written.append(screenshot(url, token, out / "ops-page.png", minutes=minutes))
    except ServiceError as exc:
        result.not_included.append(f"ops page screenshot: {exc}")
    return written
