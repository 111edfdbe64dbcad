"""The report's cost table (the seed's evaluation table): accuracy, latency, memory and energy of
the teacher against the student as float, as int8 on the CPU and as int8 on the Cortex-M4.

Inputs are the JSON of ``python -m benchmarks.student_vs_teacher --out FILE`` (every CPU
runtime, the fastest teacher over each student runtime, energy estimates) and of
``python -m benchmarks.mcu_cost --out FILE`` (instructions, time, RAM, flash and energy on the
STM32F405), plus the accuracies of one data set of the report. Nothing here measures anything;
a missing input leaves its cells "n/a".
"""

from __future__ import annotations

from typing import Any

# (row label, student_vs_teacher key, accuracy key)
CPU_ROWS = (
    ("teacher, torch fp32 (CPU)", "teacher", "teacher"),
    ("teacher, onnxruntime fp32 (CPU)", "teacher-onnx", "teacher"),
    ("student, torch fp32 (CPU)", "student", "student"),
    ("student, onnxruntime dynamic int8 (CPU)", "student-onnx-int8", None),
    ("student int8, devices' C engine (CPU)", "student-c", "int8"),
)
M4_ROW = "student int8, STM32F405 @ 168 MHz (DSP kernels)"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _joules(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value * 1e3:.3f} mJ" if value < 1 else f"{value:.2f} J"


def cost_rows(
    cpu: dict[str, Any] | None, mcu: dict[str, Any] | None, accuracy: dict[str, float | None]
) -> list[dict[str, str]]:
    """One row per runtime: accuracy, latency at batch 1 (median / p99), latency per message
    at batch 64, memory, energy per message. ``accuracy`` keys: teacher, student, int8."""
    rows = []
    cpu = cpu or {}
    energy = cpu.get("energy", {})
    for label, key, acc_key in CPU_ROWS:
        r = cpu.get(key)
        if not isinstance(r, dict):
            continue
        rss = r.get("model_rss_mb")
        rows.append(
            {
                "model": label,
                "accuracy": _num(accuracy.get(acc_key) if acc_key else None),
                "latency_b1": f"{_num(r.get('latency_ms_batch1'))} / "
                f"{_num(r.get('latency_ms_batch1_p99'))}",
                "latency_b64": _num(r.get("latency_ms_per_message_batch64"), 4),
                "memory": "n/a" if rss is None else f"{rss:.0f} MB RSS",
                "energy": _joules(energy.get(key, {}).get("joules_per_message")),
            }
        )
    if mcu:
        dsp = {m["tokens"]: m for m in mcu["paths"]["dsp"]["messages"]}
        mem = mcu["memory"]
        shown = [t for t in (16, 64) if t in dsp]
        rows.append(
            {
                "model": M4_ROW,
                "accuracy": _num(accuracy.get("int8")),
                "latency_b1": " / ".join(
                    f"{dsp[t]['ms_at_168mhz']:.1f} ({t} tokens)" for t in shown
                ),
                "latency_b64": "n/a (one message at a time)",
                "memory": f"{mem['engine_ram_bytes'] / 1024:.1f} KiB RAM, "
                f"{mem['flash']['model_blob_bytes'] / 1024:.0f} KiB flash",
                "energy": " / ".join(_joules(dsp[t]["energy_estimate"]["joules"]) for t in shown),
            }
        )
    return rows


def cost_section(
    cost: dict[str, Any], accuracy: dict[str, float | None], dataset: str
) -> list[str]:
    """The report's Markdown section from ``cost`` = {"cpu": ..., "mcu": ...} (either may be
    missing) and the accuracies of ``dataset``."""
    cpu, mcu = cost.get("cpu"), cost.get("mcu")
    lines = [
        "## Cost: teacher vs student",
        "",
        f"Accuracy: `{dataset}` (float: the KD student, int8: its PTQ row, which the C engine and "
        "the M4 run bit for bit). Latency, memory and energy: `python -m "
        "benchmarks.student_vs_teacher` (CPU, same thread count, tokenisation included) and "
        "`python -m benchmarks.mcu_cost` (QEMU instruction counts of the device image).",
        "",
        "| model | accuracy | latency b=1 (ms, median / p99) | latency b=64 (ms/msg) "
        "| memory | energy per message (estimate) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in cost_rows(cpu, mcu, accuracy):
        lines.append(
            f"| {r['model']} | {r['accuracy']} | {r['latency_b1']} | {r['latency_b64']} "
            f"| {r['memory']} | {r['energy']} |"
        )
    lines.append("")
    if cpu:
        best = cpu.get("fastest_teacher_over", {}).get("student-c", {})
        lines.append(
            f"The C engine is {best.get('latency_ms_batch1', 'n/a')}x faster than the fastest "
            f"teacher at batch 1 ({best.get('latency_ms_per_message_batch64', 'n/a')}x per "
            f"message at batch 64). CPU energy: {cpu.get('energy', {}).get('method', 'n/a')}."
        )
    if mcu:
        lines.append(f"M4 energy: {mcu['energy_method']} ({mcu['datasheet']['source']}).")
    return [*lines, ""]
