"""``fleet report`` machinery on toy results: table rendering, latency attachment, the chart.

The experiment itself (teacher fine-tuning and 7 students per data set) is not run here;
``tests/models/test_cli_distill.py`` covers the distillation path end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import pytest

from models.errors import ConfigError
from models.report import (
    PTQ_ROW,
    QAT_ROW,
    TEACHER_ROW,
    VARIANTS,
    ReportConfig,
    attach_latency,
    load_splits,
    render_markdown,
    write_report,
)


def _measure(b1: float, b64: float, rss: float, **sizes: int) -> dict[str, Any]:
    return {"latency_ms_batch1": b1, "latency_ms_per_message_batch64": b64, "peak_rss_mb": rss,
            "model_rss_mb": rss / 10, "parameters": 1, **sizes}  # fmt: skip


@pytest.fixture
def results_factory() -> Callable[..., dict[str, Any]]:
    """Results shaped as ``run_report`` stores them, with made-up numbers per row."""

    def make(quick: bool = True, datasets: tuple[str, ...] = ("synth", "banking")) -> dict:
        config = ReportConfig.preset(quick=quick, datasets=datasets)
        out: dict[str, Any] = {"config": asdict(config), "datasets": {}}
        for d, name in enumerate(datasets):
            rows = [{"model": TEACHER_ROW, "accuracy": 0.9, "macro_f1": 0.88, "kind": "teacher",
                     "parameters": 118_000_000}]  # fmt: skip
            for k, v in enumerate(VARIANTS):
                f1 = 0.5 + 0.05 * k + 0.01 * d
                rows.append({"model": v.name, "accuracy": f1 + 0.02, "macro_f1": f1,
                             "kind": v.pooling, "parameters": 330_000})  # fmt: skip
            for label in (PTQ_ROW, QAT_ROW):
                rows.append({"model": label, "accuracy": 0.8, "macro_f1": 0.79, "kind": "int8",
                             "parameters": 330_000, "bytes": 349_908})  # fmt: skip
            sizes = {"train": 1500, "valid": 500, "test": 500, "transfer": 1400, "labels": 8,
                     "test_with_known_label": 498}  # fmt: skip
            out["datasets"][name] = {"sizes": sizes, "teacher_steps": 80, "rows": rows}
        out["latency"] = {
            "cpu": "Toy CPU",
            "memory_method": "peak RSS (toy)",
            "teacher": _measure(20.0, 3.0, 1500.0, safetensors_bytes=470_000_000),
            "attention": _measure(2.0, 0.2, 400.0, fp32_safetensors_bytes=1_330_000),
            "last": _measure(1.5, 0.1, 390.0, fp32_safetensors_bytes=1_320_000),
            "teacher_over_last_student": {"latency_ms_batch1": 13.3},
        }
        out["latency_dataset"] = datasets[0]
        out["environment"] = {"cpu": "Toy CPU", "date": "2026-01-01 00:00 UTC", "seconds": 1.0}
        return out

    return make


def test_attach_latency_fills_every_float_row(results_factory: Callable[..., dict]) -> None:
    results = results_factory()
    attach_latency(results)
    for data in results["datasets"].values():
        by_model = {r["model"]: r for r in data["rows"]}
        assert by_model[TEACHER_ROW]["latency_ms_batch1"] == 20.0
        assert by_model[TEACHER_ROW]["bytes"] == 470_000_000
        assert by_model["student + KD"]["latency_ms_batch64"] == 0.2
        assert by_model[VARIANTS[-1].name]["bytes"] == 1_320_000  # the last-pooling student
        assert "latency_ms_batch1" not in by_model[PTQ_ROW]  # int8: not timed on the CPU
        assert by_model[QAT_ROW]["bytes"] == 349_908


def test_markdown_has_one_table_per_data_set_and_says_quick(
    results_factory: Callable[..., dict],
) -> None:
    results = results_factory(quick=True)
    attach_latency(results)
    text = render_markdown(results, "report.png")
    assert "fleet report --quick" in text and "QUICK" in text
    assert "## synth" in text and "## banking" in text and "## ecdt" not in text
    assert "train 1500 (+1400 transfer), valid 500, test 500" in text
    assert "![accuracy and latency](report.png)" in text
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(table) == 2 * (1 + 1 + len(VARIANTS) + 2)  # header + teacher + students + int8
    teacher = next(line for line in table if line.startswith(f"| {TEACHER_ROW} "))
    assert "| 0.9000 | 0.8800 | 20.00 | 3.000 | 118,000,000 | 448.2 MiB | 1500 | 150 |" in teacher
    ptq = next(line for line in table if PTQ_ROW in line)
    assert "| n/a | n/a |" in ptq and "342 KiB" in ptq
    full = render_markdown(results_factory(quick=False), "report.png")
    assert "QUICK" not in full and "`fleet report`" in full


def test_write_report_writes_markdown_and_a_png(
    results_factory: Callable[..., dict], tmp_path: Path
) -> None:
    results = results_factory(datasets=("synth", "banking", "ecdt"))
    attach_latency(results)
    out = write_report(results, tmp_path / "docs" / "report.md")
    chart = tmp_path / "docs" / "report.png"
    assert out.read_text(encoding="utf-8").startswith("# Evaluation report")
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_presets_and_validation() -> None:
    quick = ReportConfig.preset(quick=True)
    full = ReportConfig.preset(quick=False, threads=4)
    assert quick.max_train == 1500 and sum(quick.stage_epochs) < sum(full.stage_epochs)
    assert full.max_train is None and full.threads == 4
    with pytest.raises(ConfigError, match="datasets must be among"):
        ReportConfig(quick=True, datasets=("imdb",))


def test_subsampling_is_deterministic() -> None:
    config = ReportConfig(quick=True, datasets=("synth",), max_train=50, max_eval=20)
    train, valid, test = load_splits("synth", config)
    assert (len(train), len(valid), len(test)) == (50, 20, 20)
    again, _, _ = load_splits("synth", config)
    assert [e.text for e in again] == [e.text for e in train]


def test_reuse_keeps_trained_data_sets_and_only_retimes(
    results_factory: Callable[..., dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    import models.report as report

    results = results_factory(datasets=("synth",))
    work = tmp_path / "work"
    work.mkdir()
    (work / "results.json").write_text(json.dumps(results))
    timed = results.pop("latency")
    calls: list[str] = []

    def no_training(name: str, *_: object) -> dict:
        calls.append(name)
        raise AssertionError("a reused data set must not train again")

    monkeypatch.setattr(report, "run_dataset", no_training)
    monkeypatch.setattr(report, "measure_latency", lambda *_: timed)
    config = ReportConfig.preset(quick=True, datasets=("synth",))
    out = report.run_report(config, tmp_path / "report.md", work, reuse=True)
    text = out.read_text()
    assert calls == [] and "| student + KD | 0.5700 | 0.5500 | 2.00 |" in text
    assert "Models and scores of synth come from an earlier run" in text
    with pytest.raises(AssertionError, match="must not train"):  # another config: trains
        report.run_report(replace(config, qat_steps=1), tmp_path / "r.md", work, reuse=True)
