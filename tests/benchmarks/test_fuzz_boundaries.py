"""Every boundary where outside bytes enter, fuzzed briefly (``python -m
benchmarks.fuzz_boundaries`` runs 10 000 inputs per boundary): no input crashes it, and every
input it refuses is refused with a reason."""

from __future__ import annotations

import pytest

from benchmarks.fuzz_boundaries import boundaries, run

INPUTS = 200  # per boundary, a few seconds each


@pytest.mark.parametrize("name", list(boundaries()))
def test_no_generated_input_crashes_a_boundary(name):
    tally = run(name, INPUTS)
    assert tally.crashes == 0, tally.first_crash
    assert tally.refused_without_reason == 0
    assert tally.inputs >= INPUTS * 0.9 and tally.refused > 0, tally.summary()
