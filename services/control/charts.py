"""Inline SVG charts, drawn on the server: a line chart of time series with vertical release
markers, and the rollout as a timeline of its stages. No library, no script: the page must
work without a CDN or a build step, and a chart is a few dozen SVG elements (matplotlib's SVG
backend writes kilobytes of paths and fonts per chart, and needs 'unsafe-inline' styles)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
OUTCOME_COLOURS = {"confirmed": "#2ca02c", "reverted": "#d62728", "rejected": "#ff7f0e"}
W, H = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 52, 120, 26, 28


@dataclass(frozen=True)
class Marker:
    ts: float
    label: str  # e.g. "v2 published"


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_chart(
    chart_id: str,
    title: str,
    series: dict[str, list[tuple[float, float]]],
    start: float,
    end: float,
    markers: Sequence[Marker] = (),
    y_min: float = 0.0,
) -> str:
    """An SVG line chart; ``series``: legend name -> (Unix time, value) points. The element
    carries ``data-points`` (how many points it draws) for tests and scripts."""
    values = [v for points in series.values() for _, v in points]
    top = max([*values, y_min + 1e-9])
    top = top * 1.1 if top > 0 else 1.0
    span = max(end - start, 1e-9)
    plot_w, plot_h = W - LEFT - RIGHT, H - TOP - BOTTOM

    def x(ts: float) -> float:
        return LEFT + (ts - start) / span * plot_w

    def y(value: float) -> float:
        return TOP + plot_h - (value - y_min) / (top - y_min) * plot_h

    parts = [
        f'<text x="{LEFT}" y="16" class="title">{escape(title)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="frame"/>',
    ]
    for frac in (0.0, 0.5, 1.0):  # y ticks
        value = y_min + (top - y_min) * frac
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'class="grid"/><text x="{LEFT - 4}" y="{y(value) + 4:.1f}" class="tick" '
            f'text-anchor="end">{_fmt(value)}</text>'
        )
    for frac in (0.0, 0.5, 1.0):  # x ticks (UTC)
        ts = start + span * frac
        anchor = ("start", "middle", "end")[int(frac * 2)]
        parts.append(
            f'<text x="{x(ts):.1f}" y="{H - 8}" class="tick" text-anchor="{anchor}">'
            f"{_clock(ts)}</text>"
        )
    for marker in markers:
        if start <= marker.ts <= end:
            mx = x(marker.ts)
            parts.append(
                f'<g class="marker"><line x1="{mx:.1f}" x2="{mx:.1f}" y1="{TOP}" '
                f'y2="{TOP + plot_h}"/><text x="{mx + 3:.1f}" y="{TOP + 11}">'
                f"{escape(marker.label)}</text></g>"
            )
    drawn = 0
    for i, (name, points) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        coords = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points if start <= t <= end)
        n = len(coords.split()) if coords else 0
        drawn += n
        if n:
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="1.6" '
                f'data-series="{escape(name)}"/>'
            )
        ly = TOP + 12 + i * 16
        parts.append(
            f'<rect x="{W - RIGHT + 10}" y="{ly - 9}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{W - RIGHT + 24}" y="{ly}" class="legend">{escape(name)}</text>'
        )
    if not drawn:
        parts.append(
            f'<text x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" class="empty" '
            'text-anchor="middle">no data in this range</text>'
        )
    return (
        f'<svg id="{escape(chart_id)}" class="chart" data-points="{drawn}" '
        f'viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        + "".join(parts)
        + "</svg>"
    )


def rollout_timeline(rollout: dict[str, Any], now: float) -> str:
    """The stages of one rollout on a time axis: rolling out (started -> min_confirmed met),
    baking (met -> finished), with each stage's devices per outcome."""
    stages = rollout.get("stages") or []
    times: list[float] = [
        t
        for s in stages
        for t in (s.get("started_at"), s.get("met_at"), s.get("finished_at"))
        if t is not None
    ]
    if not times:
        return '<p class="muted">No stage has started yet.</p>'
    start = min(times)
    end = max([*times, min(now, start + 3600)])
    span = max(end - start, 1.0)
    row_h, height = 34, 40 + 34 * len(stages)
    plot_w = W - 170 - 20

    def x(ts: float) -> float:
        return 170 + (ts - start) / span * plot_w

    parts = [
        f'<text x="170" y="16" class="title">release v{rollout.get("version")} '
        f"({escape(str(rollout.get('status', '')))}), from {_clock(start)} UTC</text>"
    ]
    for i, stage in enumerate(stages):
        top = 28 + i * row_h
        counts = stage.get("outcomes") or {}
        summary = ", ".join(f"{n} {o}" for o, n in sorted(counts.items())) or "no reports"
        parts.append(
            f'<text x="4" y="{top + 13}" class="legend">{escape(stage["group"])} '
            f"({escape(stage['status'])})</text>"
            f'<text x="4" y="{top + 26}" class="tick">{stage["population"]} devices: '
            f"{escape(summary)}</text>"
        )
        began, met, done = stage.get("started_at"), stage.get("met_at"), stage.get("finished_at")
        if began is None:
            continue
        rolled_until = met if met is not None else (done if done is not None else now)
        rolled_w = max(x(rolled_until) - x(began), 2)
        parts.append(
            f'<rect x="{x(began):.1f}" y="{top + 2}" width="{rolled_w:.1f}" '
            f'height="14" class="rolling"><title>{escape(stage["group"])}: rolling out</title>'
            "</rect>"
        )
        if met is not None:
            bake_end = done if done is not None else now
            parts.append(
                f'<rect x="{x(met):.1f}" y="{top + 2}" width="{max(x(bake_end) - x(met), 2):.1f}" '
                f'height="14" class="baking"><title>{escape(stage["group"])}: baking</title></rect>'
            )
        if done is not None:
            parts.append(
                f'<text x="{x(done) + 3:.1f}" y="{top + 13}" class="tick">'
                f"+{done - start:.0f}s</text>"
            )
        # one bar per outcome under the stage, proportional to its population
        pop = max(stage.get("population") or 0, sum(counts.values()), 1)
        offset = 170.0
        for outcome in ("confirmed", "reverted", "rejected"):
            n = counts.get(outcome, 0)
            if n:
                width = n / pop * plot_w
                parts.append(
                    f'<rect x="{offset:.1f}" y="{top + 19}" width="{width:.1f}" height="6" '
                    f'fill="{OUTCOME_COLOURS[outcome]}"><title>{n} {outcome}</title></rect>'
                )
                offset += width
    legend_y = height - 6
    parts.append(
        f'<rect x="170" y="{legend_y - 9}" width="10" height="10" class="rolling"/>'
        f'<text x="184" y="{legend_y}" class="tick">rolling out</text>'
        f'<rect x="260" y="{legend_y - 9}" width="10" height="10" class="baking"/>'
        f'<text x="274" y="{legend_y}" class="tick">baking</text>'
    )
    return (
        f'<svg id="rollout-timeline" class="chart" data-points="{len(times)}" '
        f'viewBox="0 0 {W} {height}" width="{W}" height="{height}" role="img" '
        f'aria-label="rollout timeline" xmlns="http://www.w3.org/2000/svg">'
        + "".join(parts)
        + "</svg>"
    )
