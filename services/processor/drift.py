"""Drift of one window against a release's reference profile: PSI, Jensen-Shannon distance
and Pearson's chi-square test, over the class mix and the confidence histogram.

Pure functions on count vectors; no Kafka, no faust. The processor aligns the window's
counts with the reference (same classes, same bin edges) and calls :func:`drift_report`.

Conventions:
- Distributions are smoothed with ``EPSILON`` before logs and ratios, so a class the window
  never saw (or the reference never had) gives a large but finite PSI instead of infinity.
- Jensen-Shannon distance uses base 2, so it lies in [0, 1].
- The chi-square test compares observed window counts with ``n * reference``; bins whose
  expected count is zero get ``EPSILON`` so the statistic stays finite.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.spatial import distance

from services.errors import ServiceError

EPSILON = 1e-4  # added to every bin's share before normalising (PSI and chi-square)
STATISTICS = ("psi", "js_distance", "chi2_statistic", "chi2_pvalue")  # exported names
FEATURES = ("class_mix", "confidence")  # what the statistics are computed on

# Alert thresholds (deploy/prometheus/rules/fleet.yml uses the same numbers; a test checks).
PSI_ALERT = 0.2  # PSI above 0.2 is the usual "significant shift" rule of thumb


class DriftError(ServiceError):
    """Counts and reference cannot be compared (shape mismatch, negative or empty input)."""


def _as_distribution(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise DriftError(f"{name} must be a non-empty 1-D vector, got shape {array.shape}")
    if np.any(array < 0) or not np.all(np.isfinite(array)):
        raise DriftError(f"{name} must be finite and non-negative")
    total = array.sum()
    if total <= 0:
        raise DriftError(f"{name} sums to zero")
    return np.asarray(array / total)


def _smooth(p: np.ndarray) -> np.ndarray:
    q = p + EPSILON
    return np.asarray(q / q.sum())


def psi(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Population stability index sum((o - e) * ln(o / e)) of two (smoothed) distributions."""
    o, e = _pair(observed, expected)
    o, e = _smooth(o), _smooth(e)
    return float(np.sum((o - e) * np.log(o / e)))


def js_distance(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Jensen-Shannon distance (square root of the divergence), base 2, in [0, 1]."""
    o, e = _pair(observed, expected)
    value = float(distance.jensenshannon(o, e, base=2))
    return 0.0 if np.isnan(value) else min(max(value, 0.0), 1.0)


def chi_square(observed_counts: Sequence[float], expected: Sequence[float]) -> tuple[float, float]:
    """Pearson's chi-square goodness of fit of window counts against the reference shares.

    Returns ``(statistic, p_value)``; a small p-value means the window is unlikely to come
    from the reference distribution.
    """
    counts = np.asarray(observed_counts, dtype=np.float64)
    _, e = _pair(observed_counts, expected)
    n = counts.sum()
    if counts.size < 2:
        return 0.0, 1.0  # one bin: nothing can differ
    f_exp = _smooth(e) * n
    result = stats.chisquare(counts, f_exp=f_exp)
    return float(result.statistic), float(result.pvalue)


def _pair(observed: Sequence[float], expected: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    o = _as_distribution(observed, "observed")
    e = _as_distribution(expected, "expected")
    if o.shape != e.shape:
        raise DriftError(f"observed has {o.size} bins, expected {e.size}")
    return o, e


@dataclass(frozen=True)
class DriftReport:
    """Every statistic for every feature of one window: ``values[feature][statistic]``."""

    values: Mapping[str, Mapping[str, float]]

    def get(self, feature: str, statistic: str) -> float:
        return self.values[feature][statistic]


def feature_statistics(counts: Sequence[float], reference: Sequence[float]) -> dict[str, float]:
    """All of :data:`STATISTICS` for one feature (window counts vs reference shares)."""
    chi2, pvalue = chi_square(counts, reference)
    return {
        "psi": psi(counts, reference),
        "js_distance": js_distance(counts, reference),
        "chi2_statistic": chi2,
        "chi2_pvalue": pvalue,
    }


def align_classes(
    window_counts: Mapping[str, int], reference_mix: Mapping[str, float]
) -> tuple[list[float], list[float]]:
    """Class counts and reference shares over the union of classes (reference order first).

    A class the window predicted but the reference lacks gets reference share 0 (smoothed
    later), so new classes show up as drift instead of being dropped.
    """
    classes = list(reference_mix) + sorted(set(window_counts) - set(reference_mix))
    return (
        [float(window_counts.get(c, 0)) for c in classes],
        [float(reference_mix.get(c, 0.0)) for c in classes],
    )


def rebin(fine_counts: Sequence[int], edges: Sequence[float]) -> list[float]:
    """Counts on ``len(fine_counts)`` equal bins of [0, 1] moved onto the reference ``edges``.

    Each fine bin goes to the reference bin containing its midpoint, so edges on multiples of
    ``1 / len(fine_counts)`` are exact. Midpoints outside [edges[0], edges[-1]] go to the
    nearest end bin.
    """
    fine = np.asarray(fine_counts, dtype=np.float64)
    bounds = np.asarray(edges, dtype=np.float64)
    if bounds.size < 2 or np.any(np.diff(bounds) <= 0):
        raise DriftError("edges must be at least two strictly ascending values")
    midpoints = (np.arange(fine.size) + 0.5) / fine.size
    index = np.clip(np.searchsorted(bounds, midpoints, side="right") - 1, 0, bounds.size - 2)
    out = np.zeros(bounds.size - 1)
    np.add.at(out, index, fine)
    return out.tolist()


def drift_report(
    class_counts: Mapping[str, int],
    confidence_fine_counts: Sequence[int],
    reference_mix: Mapping[str, float],
    reference_edges: Sequence[float],
    reference_confidence: Sequence[float],
) -> DriftReport:
    """Drift of one window (class counts, fine confidence histogram) against a reference."""
    observed_mix, expected_mix = align_classes(class_counts, reference_mix)
    observed_conf = rebin(confidence_fine_counts, reference_edges)
    return DriftReport(
        values={
            "class_mix": feature_statistics(observed_mix, expected_mix),
            "confidence": feature_statistics(observed_conf, reference_confidence),
        }
    )
