"""Drift statistics against values computed by hand (see each test's comment)."""

from __future__ import annotations

import math

import pytest

from services.processor import drift
from services.processor.drift import DriftError


def test_psi_matches_hand_computation():
    # p = [.5, .5], q = [.25, .75]:
    # (.5 - .25) ln(.5/.25) + (.5 - .75) ln(.5/.75) = .25 ln 2 + .25 ln 1.5 = 0.274653
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.274653, rel=1e-3)
    # counts are normalised first
    assert drift.psi([50, 50], [1, 3]) == pytest.approx(0.274653, rel=1e-3)


def test_psi_is_zero_for_identical_and_finite_for_missing_bins():
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0, abs=1e-12)
    value = drift.psi([1.0, 0.0], [0.0, 1.0])
    assert math.isfinite(value) and value > 10  # smoothing keeps it finite but huge


def test_js_distance_matches_hand_computation():
    # m = [.375, .625]; KL(p||m) = .5 log2(.5/.375) + .5 log2(.5/.625) = 0.0465545
    # KL(q||m) = .25 log2(.25/.375) + .75 log2(.75/.625) = 0.0510349
    # JSD = (0.0465545 + 0.0510349) / 2 = 0.0487947, distance = sqrt = 0.220895
    assert drift.js_distance([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.220895, rel=1e-4)
    assert drift.js_distance([1, 0], [0, 1]) == pytest.approx(1.0)
    assert drift.js_distance([3, 1], [3, 1]) == pytest.approx(0.0, abs=1e-7)


def test_chi_square_matches_hand_computation():
    # observed [50, 50], expected 100 * [.25, .75] = [25, 75]:
    # 25^2/25 + 25^2/75 = 25 + 8.3333 = 33.3333; df = 1, p = erfc(sqrt(x / 2))
    statistic, pvalue = drift.chi_square([50, 50], [0.25, 0.75])
    assert statistic == pytest.approx(33.3333, rel=1e-3)
    assert pvalue == pytest.approx(math.erfc(math.sqrt(statistic / 2)), rel=1e-6)
    statistic, pvalue = drift.chi_square([25, 75], [0.25, 0.75])
    assert statistic == pytest.approx(0.0, abs=0.05) and pvalue > 0.8


def test_rebin_moves_fine_bins_onto_reference_edges():
    fine = [0] * 100
    fine[10] = 3  # midpoint .105 -> bin [0, .25)
    fine[30] = 2  # .305 -> [.25, .5)
    fine[99] = 5  # .995 -> [.75, 1]
    assert drift.rebin(fine, [0.0, 0.25, 0.5, 0.75, 1.0]) == [3, 2, 0, 5]
    # edges that do not span [0, 1] send the outside mass to the end bins
    assert drift.rebin(fine, [0.2, 0.6, 0.9]) == [5, 5]


def test_align_classes_keeps_classes_the_reference_lacks():
    counts, shares = drift.align_classes({"a": 3, "new": 2}, {"a": 0.5, "b": 0.5})
    assert counts == [3, 0, 2]
    assert shares == [0.5, 0.5, 0.0]


def test_drift_report_has_every_statistic_and_shifted_windows_score_higher():
    reference_mix = {"a": 0.5, "b": 0.3, "c": 0.2}
    edges = [0.0, 0.5, 0.8, 1.0]
    reference_conf = [0.1, 0.3, 0.6]
    like = [0] * 100
    like[40], like[70], like[90] = 10, 30, 60
    shifted = [0] * 100
    shifted[40], shifted[70], shifted[90] = 60, 30, 10
    calm = drift.drift_report(
        {"a": 50, "b": 30, "c": 20}, like, reference_mix, edges, reference_conf
    )
    hot = drift.drift_report(
        {"a": 10, "b": 20, "c": 70}, shifted, reference_mix, edges, reference_conf
    )
    for feature in drift.FEATURES:
        assert set(calm.values[feature]) == set(drift.STATISTICS)
        assert calm.get(feature, "psi") < 0.01 < drift.PSI_ALERT < hot.get(feature, "psi")
        assert calm.get(feature, "js_distance") < hot.get(feature, "js_distance")
        assert hot.get(feature, "chi2_pvalue") < 1e-6 < calm.get(feature, "chi2_pvalue")


@pytest.mark.parametrize(
    ("observed", "expected"),
    [([], []), ([1, 2], [1]), ([-1, 2], [1, 1]), ([0, 0], [1, 1]), ([float("nan"), 1], [1, 1])],
)
def test_bad_input_raises_drift_error(observed, expected):
    with pytest.raises(DriftError):
        drift.psi(observed, expected)
