"""The demo's plots from a finished run's result: every PNG is written and shows data."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from contract.schemas import examples
from services.demo.loop import LoopResult, Times
from services.demo.plots import write_all
from tests.services.control.test_page import rollout_record
from tests.services.status.test_status import FakePrometheus

T0 = 1_700_000_000.0


def test_plots_of_a_run_are_written(tmp_path) -> None:
    manifest = examples.release_manifest(2).model_copy(
        update={
            "created": datetime.fromtimestamp(T0 + 100, UTC),
            "metrics": {
                "gate_new_accuracy_old": 0.27,
                "gate_new_accuracy_candidate": 0.96,
                "gate_new_accuracy_candidate_int8": 0.95,
                "gate_replay_accuracy_old": 0.94,
                "gate_replay_accuracy_candidate": 0.93,
            },
        }
    )
    loop = LoopResult(
        redistill_at=T0 + 90,
        version=2,
        manifest=manifest,
        rollout=rollout_record(2, t0=T0 + 101),
        confirmed_at={"dev-0001": T0 + 103, "dev-0002": T0 + 104, "sim-0000": T0 + 130},
    )
    result = SimpleNamespace(version=1, loop=loop)  # the DemoResult fields plots read
    prom = FakePrometheus(
        {
            "class_mix": [({"model_version": "1"}, 0.1), ({"model_version": "2"}, 0.01)],
            "confidence": [({"model_version": "1"}, 0.5)],
            "low_confidence": [({"model_version": "1"}, 0.05), ({"model_version": "2"}, 0.03)],
        }
    )
    times = Times(started=T0, switch=T0 + 60, v1_end=T0 + 90, v2_start=T0 + 140, end=T0 + 200)
    written = write_all(result, prom, times, 5, tmp_path)
    assert [p.name for p in written] == ["drift.png", "rollout.png", "accuracy.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
