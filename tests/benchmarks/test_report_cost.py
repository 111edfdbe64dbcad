"""The report's cost table from the CPU and MCU benchmarks' JSON (no measurement here)."""

from __future__ import annotations

from typing import Any

from benchmarks.report_cost import M4_ROW, cost_section
from benchmarks.report_render import render_markdown
from benchmarks.student_vs_teacher import summarize


def _timed(b1: float, cpu_ms: float) -> dict[str, Any]:
    return {"latency_ms_batch1": b1, "latency_ms_batch1_p99": 2 * b1,
            "latency_ms_per_message_batch64": b1 / 4, "latency_ms_per_message_batch64_p99": b1,
            "cpu_ms_per_message_batch1": cpu_ms, "model_rss_mb": 300.0}  # fmt: skip


def _mcu() -> dict[str, Any]:
    messages = [
        {"tokens": 16, "ms_at_168mhz": 17.9, "energy_estimate": {"joules": 0.00236}},
        {"tokens": 64, "ms_at_168mhz": 71.4, "energy_estimate": {"joules": 0.00943}},
    ]
    return {"paths": {"dsp": {"messages": messages}},
            "memory": {"engine_ram_bytes": 8584, "flash": {"model_blob_bytes": 363_764}},
            "energy_method": "estimate (toy)", "datasheet": {"source": "a datasheet"}}  # fmt: skip


def _cpu() -> dict[str, Any]:
    measured = {"teacher": _timed(40.0, 9.0), "teacher-onnx": _timed(8.0, 8.0),
                "student": _timed(1.0, 1.0), "student-onnx-int8": _timed(0.4, 0.4),
                "student-c": _timed(0.05, 0.05)}  # fmt: skip
    return {**measured, **summarize(measured)}


def _rows(lines: list[str]) -> dict[str, str]:
    return {line.split(" | ")[0][2:]: line for line in lines if line.startswith("| ")}


def test_every_runtime_gets_its_measured_row() -> None:
    accuracy = {"teacher": 0.9, "student": 0.85, "int8": 0.8}
    lines = cost_section({"cpu": _cpu(), "mcu": _mcu()}, accuracy, "banking")
    rows = _rows(lines)
    assert "| 0.900 | 8.000 / 16.000 |" in rows["teacher, onnxruntime fp32 (CPU)"]
    assert "| 0.850 | 1.000 / 2.000 |" in rows["student, torch fp32 (CPU)"]
    c_engine = rows["student int8, devices' C engine (CPU)"]
    assert "| 0.800 | 0.050 / 0.100 |" in c_engine  # the PTQ accuracy
    assert "0.312 mJ" in c_engine  # 0.05 ms of CPU x 350 W / 56 cores
    m4 = rows[M4_ROW]
    assert "17.9 (16 tokens) / 71.4 (64 tokens)" in m4 and "8.4 KiB RAM, 355 KiB flash" in m4
    assert "2.360 mJ / 9.430 mJ" in m4
    assert any("160.0x faster than the fastest teacher at batch 1" in s for s in lines)  # 8/0.05


def test_a_missing_benchmark_leaves_its_rows_out() -> None:
    rows = _rows(cost_section({"cpu": _cpu()}, {"teacher": None}, "synth"))
    assert M4_ROW not in rows and "| n/a |" in rows["student int8, devices' C engine (CPU)"]
    rows = _rows(cost_section({"mcu": _mcu()}, {"int8": 0.5}, "synth"))
    assert list(rows) == ["model", M4_ROW]


def test_the_report_shows_the_table_with_the_banking_accuracies() -> None:
    teacher = {"accuracy": 0.93, "macro_f1": 0.9, "best_epoch": 1, "history": [{}],
               "seconds": 60.0}  # fmt: skip
    tfidf = {"accuracy": 0.9, "macro_f1": 0.9, "train_seconds": 1.0}
    rows = {
        "student_kd": {"accuracy_mean": 0.91, "accuracy_std": 0.0},
        "student_int8": {"accuracy_mean": 0.905, "accuracy_std": 0.0, "blob_bytes": 9},
    }
    results = {"config": {"quick": True, "threads": 1, "teacher": "t", "teacher_epochs": 1,
                          "seeds": [0], "kd_epochs": 1, "transfer": 2, "no_kd_epochs": 1,
                          "qat_steps": 1},
               "datasets": {"synth": {"teacher": {**teacher, "accuracy": 0.5}, "tfidf": tfidf},
                            "banking": {"teacher": teacher, "tfidf": tfidf, "rows": rows}},
               "cost": {"cpu": _cpu(), "mcu": _mcu()}}  # fmt: skip
    text = render_markdown(results, {})
    assert "## Cost: teacher vs student" in text and "Accuracy: `banking`" in text
    table = _rows(text.splitlines())
    assert "| 0.930 |" in table["teacher, torch fp32 (CPU)"]
    assert "| 0.905 |" in table[M4_ROW]
