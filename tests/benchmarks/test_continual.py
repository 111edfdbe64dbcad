"""The continual-distillation benchmark on a tiny scenario: the rounds run the project's own
processor sampling and distiller cycle, the forgetting matrix and the goals are read from
the records, and the command line writes its JSON and plot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import continual
from benchmarks.continual_rounds import goals, rounds, scenarios
from benchmarks.continual_rounds.teachers import OracleTeacher, accuracy

LOOP = rounds.Loop(
    rounds_per_phase=1, traffic_per_round=300, window=100, devices=10, min_new_samples=5,
    steps=8, engine="c",
)  # fmt: skip


@pytest.fixture(scope="module")
def scenario() -> scenarios.Scenario:
    return scenarios.synthetic(
        traffic_per_phase=300, test_per_phase=40, labeled_per_phase=120, valid_per_phase=60
    )


@pytest.fixture(scope="module")
def teacher(scenario: scenarios.Scenario) -> OracleTeacher:
    gold = [*scenario.initial_train, *(e for p in scenario.phases for e in p.traffic),
            *(e for p in scenario.phases for e in p.test)]  # fmt: skip
    return OracleTeacher(gold)


@pytest.fixture(scope="module")
def first(scenario: scenarios.Scenario, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("v1")
    return rounds.train_first_release(scenario, out, 40, 0, rounds.TINY_STUDENT)


def test_phases_of_the_synthetic_scenario_are_disjoint_and_labeled(scenario) -> None:  # type: ignore[no-untyped-def]
    assert [p.index for p in scenario.phases] == [0, 1, 2, 3]
    assert "拦截" not in scenario.phases[1].labels and "拦截" in scenario.phases[2].labels
    for phase in scenario.phases:
        assert len(phase.traffic) == 300 and len(phase.test) == 40 and len(phase.labeled) == 120
        seen = {e.text for e in phase.labeled}
        assert not seen & {e.text for e in phase.test}  # the teacher never sees a test message
    assert scenario.initial_train == scenario.phases[0].labeled


def test_the_oracle_teacher_is_right_at_its_confidence(scenario, teacher) -> None:  # type: ignore[no-untyped-def]
    assert accuracy(teacher, scenario.phases[2].test) == 1.0
    probs = teacher.probs([scenario.phases[2].test[0].text])
    assert probs.max() == pytest.approx(0.9) and probs.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("variant", [rounds.Variant("memory", budget=0.1),
                                     rounds.Variant("random", sampling="random", budget=0.1,
                                                    replay="none")])  # fmt: skip
def test_rounds_label_at_the_budget_and_record_every_phase(  # type: ignore[no-untyped-def]
    scenario, teacher, first, variant, tmp_path
) -> None:
    result = rounds.run_variant(scenario, teacher, variant, LOOP, first, tmp_path / "run")
    records = result["rounds"]
    assert [r["round"] for r in records] == [0, 1, 2, 3] and records[0]["version"] == 1
    for r in records[1:]:
        # 3 windows of 100 predictions, at most 10 labels each (the uncertainty strategy:
        # of the low-confidence predictions only)
        assert 0 < r["labels"] <= 30 and r["label_share"] == pytest.approx(
            r["labels"] / 300, abs=1e-4
        )
        if variant.sampling == "random":
            assert r["labels"] == 30 and r["outcome"] != "waiting"  # every round a cycle
            assert r["gate"]["gate_holdout"] > 0  # ... with held-out samples to judge it by
        assert set(r["labels_by_strategy"]) == {
            "random" if variant.sampling == "random" else "low_confidence"
        }
        assert r["teacher_agrees_with_gold"] == 1.0
        assert r["outcome"] in ("published", "rejected_by_gate", "waiting")
        waiting = r["store_samples"] - r["store_memory"]  # labels no cycle has trained on
        assert waiting < 5 if r["outcome"] == "waiting" else waiting == 0
        assert set(r["int8"]) == set(r["float"]) == {0, 1, 2, 3}
        assert all(0.0 <= v <= 1.0 for v in r["int8"].values())
        # the store keeps its memory after a cycle and nothing else
        assert r["store_memory"] <= (variant.memory_size if variant.replay == "memory" else 0)
    published = sum(r["outcome"] == "published" for r in records[1:])
    assert records[-1]["version"] == 1 + published
    matrix = goals.forgetting_matrix(records)
    assert len(matrix) == 4 and all(len(row) == 4 for row in matrix)
    met = goals.evaluate(records, {p: 1.0 for p in range(4)}, variant.memory_size)
    if variant.sampling == "random":
        assert met["label_share"] == pytest.approx(0.1) and not met["labels_met"]  # > 5 %
    assert met["memory_met"] and set(met["adaptation"]) == {1, 2, 3}


def test_traffic_must_fill_whole_windows() -> None:
    with pytest.raises(ValueError, match="multiple of the window"):
        rounds.Loop(traffic_per_round=450, window=100)


def test_goals_from_records() -> None:
    def row(i: int, phase: int, acc: dict[int, float]) -> dict:
        return {"round": i, "phase": phase, "round_in_phase": 1, "traffic": 100, "labels": 2,
                "store_samples": 5, "store_memory": 3, "int8": acc}  # fmt: skip

    records = [row(0, 0, {0: 0.9, 1: 0.5})] + [
        row(i, 1, {0: 0.9 - 0.01 * i, 1: 0.8}) for i in range(1, 6)
    ]
    met = goals.evaluate(records, {0: 1.0, 1: 0.9}, memory_size=3)
    assert met["adaptation"][1]["ratio"] == pytest.approx(0.8 / 0.9, abs=1e-4)
    assert not met["adaptation_met"]
    assert met["retention"][0]["loss_points"] == pytest.approx(4.0)  # 0.9 -> 0.86 after 4
    assert not met["retention_met"] and met["labels_met"] and met["memory_met"]
    assert goals.evaluate(records, {0: 1.0, 1: 0.8}, memory_size=2)["memory_met"] is False


def test_the_command_writes_json_and_a_plot(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "continual.json"
    args = ["--quick", "--teacher", "oracle", "--scenarios", "synthetic", "--variants",
            "random", "--traffic", "500", "--rounds", "1", "--steps", "4",
            "--student-steps", "20", "--student", "tiny", "--work", str(tmp_path / "w"),
            "--out", str(out)]  # fmt: skip
    assert continual.main(args) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(out.read_text())
    synthetic = printed["scenarios"]["synthetic"]
    run = synthetic["variants"]["random"]
    assert len(run["matrix_int8"]) == 4 and run["goals"]["label_share"] == pytest.approx(0.02)
    assert (tmp_path / "continual-synthetic.png").stat().st_size > 1000
    # a second run reads every variant from its cache
    assert continual.main(args) == 0
    assert (
        json.loads(capsys.readouterr().out)["scenarios"]["synthetic"]["variants"]
        == (synthetic["variants"])
    )
