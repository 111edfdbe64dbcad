"""benchmarks/student_vs_teacher on a tiny random BERT teacher and an untrained student."""

from __future__ import annotations

from pathlib import Path

from benchmarks.student_vs_teacher import compare
from models.student import StudentConfig, TinyLSTM, save_student
from tests.models.tiny_teacher import make_tiny_teacher
from tests.models.toy_data import KEYWORDS, make_toy_examples


def test_compare_measures_both_models_in_subprocesses(tmp_path: Path) -> None:
    labels = sorted(KEYWORDS)
    teacher = make_tiny_teacher(tmp_path / "teacher", labels)
    student = save_student(TinyLSTM(StudentConfig(num_labels=3, hidden=16)), labels,
                           tmp_path / "student")  # fmt: skip
    texts = [e.text for e in make_toy_examples(5)]
    result = compare(teacher, student, texts, threads=1, repeats=3)
    t, s = result["teacher"], result["student"]
    for runtime in ("teacher-onnx", "student-onnx-int8", "student-c"):
        r = result[runtime]
        assert 0 < r["latency_ms_batch1"] <= r["latency_ms_batch1_p99"], runtime
        assert 0 < r["latency_ms_per_message_batch64"] <= r["latency_ms_per_message_batch64_p99"]
        joules = result["energy"][runtime]["joules_per_message"]
        assert joules == r["cpu_ms_per_message_batch1"] / 1e3 * result["energy"]["watts_per_core"]
        assert joules > 0, runtime
    assert result["student-c"]["int8_blob_bytes"] == s["int8_blob_bytes"]
    assert result["student-c"]["kernels"] in ("avx2", "portable")
    best = result["fastest_teacher"]
    assert best["latency_ms_batch1"] == min(
        result[k]["latency_ms_batch1"] for k in ("teacher", "teacher-onnx")
    )
    for runtime in ("student", "student-onnx-int8", "student-c"):
        speedup = result["fastest_teacher_over"][runtime]["latency_ms_batch1"]
        assert speedup == round(best["latency_ms_batch1"] / result[runtime]["latency_ms_batch1"], 1)
    assert t["torch_threads"] == s["torch_threads"] == 1
    assert t["parameters"] == 43_875  # the tiny BERT (43,776) + its 3-way head (99)
    assert s["parameters"] == sum(
        p.numel() for p in TinyLSTM(StudentConfig(3, hidden=16)).parameters()
    )
    assert t["safetensors_bytes"] > 4 * 43_875  # fp32 weights plus the file headers
    assert s["fp32_safetensors_bytes"] > 4 * s["parameters"]
    assert 0 < s["int8_blob_bytes"] < s["fp32_safetensors_bytes"]
    for side in (t, s):
        assert side["latency_ms_batch1"] > 0 and side["latency_ms_per_message_batch64"] > 0
        assert side["peak_rss_mb"] >= side["model_rss_mb"] >= 0
    ratio = result["teacher_over_student"]
    assert ratio["bytes_vs_int8_blob"] == round(t["safetensors_bytes"] / s["int8_blob_bytes"], 1)
