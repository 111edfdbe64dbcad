"""The demo's end-to-end slice runs against the session stack and accounts for every event."""

from __future__ import annotations

import pytest

from services import demo

pytestmark = pytest.mark.integration


def test_demo_slice_delivers_every_prediction_and_dead_letters_the_bad_one(stack, capsys):
    demo.main()  # raises SystemExit(1) when a prediction is missing
    out = capsys.readouterr().out
    expected = demo.DEVICES * demo.EVENTS_PER_DEVICE
    assert f"{expected}/{expected} predictions arrived, 1 dead letter(s)." in out
    assert "Invalid JSON" in out
