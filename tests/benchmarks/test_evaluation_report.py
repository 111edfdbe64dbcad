"""The distillation report: a real (tiny) end-to-end run, resuming, and the rendering."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.evaluation_report import ReportConfig, run_report, summarise
from benchmarks.report_render import report_json, summary, write_report


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[ReportConfig, Path, dict]:
    """The whole pipeline on 120 synthetic messages: teacher fine-tuning (a tiny random BERT,
    12 steps), TF-IDF, a transfer set labeled by the teacher, a no-KD and a KD student, int8
    rows."""
    from tests.models.tiny_teacher import make_tiny_teacher

    base = make_tiny_teacher(tmp_path_factory.mktemp("tiny-base"), ["x", "y"])
    config = ReportConfig.preset(
        True, datasets=("synth",), teacher=str(base), teacher_steps=12, max_train=120,
        max_eval=60, qat_steps=4, threads=1,
    )  # fmt: skip
    work = tmp_path_factory.mktemp("report")
    return config, work, run_report(config, work)


def test_a_smoke_run_fills_every_headline_number(smoke) -> None:  # type: ignore[no-untyped-def]
    _, _, results = smoke
    synth = report_json(results)["datasets"]["synth"]
    assert 0.0 <= synth["teacher"]["accuracy"] <= 1.0
    assert 0.0 <= synth["tfidf"]["accuracy"] <= 1.0
    for key in ("student_no_kd", "student_kd"):
        assert 0.0 <= synth[key]["accuracy_mean"] <= 1.0 and synth[key]["accuracy_std"] == 0.0
    assert synth["student_kd"]["seeds"][0]["transfer_texts"] > 0  # the teacher labeled them
    assert synth["student_no_kd"]["seeds"][0]["transfer_texts"] == 0
    int8 = synth.get("student_int8")
    if int8 is not None:  # the default pooling has an integer kernel
        assert 0 < int8["blob_bytes"] <= 384 * 1024 and "accuracy_mean" in int8


def test_a_second_run_reuses_every_finished_result(smoke) -> None:  # type: ignore[no-untyped-def]
    config, work, first = smoke
    again = run_report(config, work)
    a, b = first["datasets"]["synth"], again["datasets"]["synth"]
    assert a["teacher"] == b["teacher"] and a["rows"] == b["rows"]


def test_rendering_writes_markdown_json_and_a_plot(smoke, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, _, results = smoke
    paths = write_report(results, tmp_path / "report.md")
    text = paths["report"].read_text()
    assert "QUICK smoke run" in text and "## synth" in text and "teacher (fine-tuned)" in text
    data = json.loads(paths["json"].read_text())
    assert data["summary"] == summary(results)
    assert paths["plot"].stat().st_size > 1000


def test_summarise_reports_mean_and_sample_std() -> None:
    runs = [{"seed": k, "accuracy": a, "macro_f1": a, "seconds": 1.0}
            for k, a in enumerate((0.90, 0.92, 0.94))]  # fmt: skip
    row = summarise(runs)
    assert row["accuracy_mean"] == 0.92 and row["accuracy_std"] == 0.02
    assert row["seeds"] == runs


def test_runs_of_the_former_v1_default_become_the_spec_v1_row(tmp_path: Path) -> None:
    """A work directory from before the hash embedding became the default: its student_kd runs
    trained spec v1, so they are the kd_spec_v1 row now and student_kd is trained again; a
    row that kept its meaning (kd_hash_meanmax) keeps its runs, one whose student changed
    (student_no_kd, now on the hash embedding) loses them."""
    from benchmarks.evaluation_report import DatasetRun

    v1_run = {"seed": 0, "accuracy": 0.9, "macro_f1": 0.9, "seconds": 1.0,
              "student_int8": {"accuracy": 0.9, "blob_bytes": 1}}  # fmt: skip
    rows = {
        "student_kd": summarise([v1_run]),
        "student_int8": summarise([{"seed": 0, "accuracy": 0.9}]),
        "student_no_kd": summarise([{"seed": 0, "accuracy": 0.8}]),
        "kd_hash_meanmax": summarise([{"seed": 0, "accuracy": 0.92}]),
    }
    (tmp_path / "results.json").write_text(json.dumps({"rows": rows}))
    config = ReportConfig.preset(True, datasets=("synth",), max_train=20, max_eval=10)
    migrated = DatasetRun("synth", config, tmp_path).results["rows"]
    assert "student_kd" not in migrated and "student_int8" not in migrated
    assert migrated["kd_spec_v1"]["accuracy_mean"] == 0.9
    assert migrated["kd_spec_v1"]["seeds"][0]["student"] == {
        "hashes": 1, "buckets": 0, "pooling": "last"
    }  # fmt: skip
    assert migrated["student_no_kd"]["seeds"] == []
    assert migrated["kd_hash_meanmax"]["accuracy_mean"] == 0.92
