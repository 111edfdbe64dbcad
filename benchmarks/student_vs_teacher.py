"""The fine-tuned teacher against the student on the same CPU, in one run.

Runtimes (``benchmarks/cpu_runtimes.py``): the teacher in torch and in onnxruntime fp32, the
float student in torch, the student in onnxruntime dynamic int8, and the integer engine the
devices run (the firmware's host library, on the student's int8 blob). For each, in its own
fresh subprocess (so one model's allocations cannot inflate the other's peak): load, warm up,
then time classification end to end (tokenise + forward + softmax) of one message at a time
(batch 1) and of 64 messages at once (batch 64), median and p99 over ``--repeats`` timed runs,
with the same intra-op thread count everywhere (``--threads``; the C engine uses one).
``fastest_teacher_over`` divides the fastest teacher by each student runtime. Memory is the
process's peak resident set (``VmHWM`` in ``/proc/self/status``; ``ru_maxrss`` would inherit
the parent's peak across fork + exec), reported both in total and above the peak reached after
the imports, before the model was loaded (tracemalloc does not see torch's allocations). Sizes:
the
teacher's safetensors files (encoder + head), the student's fp32 safetensors and, for "last"
pooling, its int8 model blob (``docs/model-blob.md``).

    python -m benchmarks.student_vs_teacher [--teacher DIR --student DIR] [--threads 1]
                                           [--out result.json]

Without ``--teacher``/``--student`` it builds both first: e5-small fine-tuned for a few steps
and a student trained for one epoch on the synthetic corpus (timings and sizes do not depend on
how well they are trained).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see benchmarks/student_baselines.py

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH = 64
RUNTIME_NAMES = ("teacher", "teacher-onnx", "student", "student-onnx-int8", "student-c")
MEMORY_METHOD = (
    "peak RSS (VmHWM of /proc/self/status) of a fresh subprocess per model; 'model' = peak minus "
    "the peak after imports, before loading"
)


def _rss_mb() -> float:
    """Peak resident set of this process image in MiB.

    VmHWM, not ``getrusage(RUSAGE_SELF).ru_maxrss``: Linux carries the parent's peak across
    fork + exec into ru_maxrss, so a worker started by a large parent would report the parent.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _timings(fn, repeats: int) -> list[float]:
    """Seconds of ``fn()`` over ``repeats`` runs, after two warm-up runs."""
    fn()
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _p99(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def worker(kind: str, path: Path, texts: list[str], threads: int, repeats: int) -> dict[str, Any]:
    """Load one runtime and time it; runs inside its own subprocess."""
    import torch

    torch.set_num_threads(threads)
    import transformers  # noqa: F401  (every worker pays the same import cost)

    from benchmarks.cpu_runtimes import RUNTIMES

    after_imports = _rss_mb()
    with tempfile.TemporaryDirectory() as tmp:
        classify, info = RUNTIMES[kind](path, threads, Path(tmp))
        singles = iter(range(10**9))
        cpu_start = time.process_time()
        b1 = _timings(lambda: classify([texts[next(singles) % len(texts)]]), repeats)
        cpu_b1 = (time.process_time() - cpu_start) / (repeats + 2)  # every thread's CPU time
        batch = (texts * (BATCH // len(texts) + 1))[:BATCH]
        b64 = _timings(lambda: classify(batch), max(3, repeats // 8))
    peak = _rss_mb()
    return {
        **info,
        "latency_ms_batch1": round(statistics.median(b1) * 1e3, 4),
        "latency_ms_batch1_p99": round(_p99(b1) * 1e3, 4),
        "latency_ms_per_message_batch64": round(statistics.median(b64) * 1e3 / BATCH, 4),
        "latency_ms_per_message_batch64_p99": round(_p99(b64) * 1e3 / BATCH, 4),
        "cpu_ms_per_message_batch1": round(cpu_b1 * 1e3, 4),
        "peak_rss_mb": round(peak, 1),
        "model_rss_mb": round(peak - after_imports, 1),
        "torch_threads": torch.get_num_threads(),
    }


def _run_worker(kind: str, path: Path, texts_file: Path, threads: int, repeats: int) -> dict:
    args = [sys.executable, "-m", "benchmarks.student_vs_teacher", "--worker", kind,
            "--path", str(path), "--texts", str(texts_file), "--threads", str(threads),
            "--repeats", str(repeats)]  # fmt: skip
    proc = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} worker failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure_all(
    teacher: Path, students: dict[str, Path], texts: list[str], threads: int, repeats: int
) -> dict[str, Any]:
    """Time the teacher (torch) once and every student (torch), one subprocess each."""
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        out = {
            "teacher": {
                "path": str(teacher),
                **_run_worker("teacher", teacher, texts_file, threads, repeats),
            }
        }
        for name, path in students.items():
            out[name] = {
                "path": str(path),
                **_run_worker("student", path, texts_file, threads, repeats),
            }
    return out  # fmt: skip


ENGINES = ("teacher-onnx", "student-onnx-int8", "student-c")


def measure_engines(
    teacher: Path, student: Path, texts: list[str], threads: int, repeats: int
) -> dict[str, Any]:
    """The other runtimes: the teacher in onnxruntime fp32, the ``last``-pooling student in
    onnxruntime int8 and in the devices' C engine; one subprocess each."""
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        texts_file.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
        return {
            kind: {
                "path": str(teacher if kind.startswith("teacher") else student),
                **_run_worker(kind, teacher if kind.startswith("teacher") else student,
                              texts_file, threads, repeats),
            }
            for kind in ENGINES
        }  # fmt: skip


def ratios(t: dict[str, Any], s: dict[str, Any]) -> dict[str, float]:
    """Teacher / student for each measured quantity."""
    keys = ("latency_ms_batch1", "latency_ms_per_message_batch64", "parameters", "model_rss_mb")
    out = {key: round(t[key] / s[key], 1) for key in keys if s.get(key) and t.get(key)}
    if "fp32_safetensors_bytes" in s:
        out["bytes_vs_fp32"] = round(t["safetensors_bytes"] / s["fp32_safetensors_bytes"], 1)
    if "int8_blob_bytes" in s:
        out["bytes_vs_int8_blob"] = round(t["safetensors_bytes"] / s["int8_blob_bytes"], 1)
    return out


def fastest_teacher(measured: dict[str, Any]) -> dict[str, Any]:
    """Per batch size, the faster of the teacher's runtimes (torch, onnxruntime fp32)."""
    teachers = {k: v for k, v in measured.items() if k in ("teacher", "teacher-onnx")}
    out: dict[str, Any] = {}
    for key in ("latency_ms_batch1", "latency_ms_per_message_batch64"):
        name = min(teachers, key=lambda k: teachers[k][key])
        out[key] = teachers[name][key]
        out[f"{key}_runtime"] = name
    return out


# The stated package power for the CPU energy estimate: a Sapphire Rapids Xeon Platinum 8480+
# (the development machine reports "Intel Xeon Processor" with AVX-512 FP16 and AMX) has a TDP
# of 350 W for 56 cores; a busy core is charged its share.
PACKAGE_WATTS, PACKAGE_CORES = 350.0, 56


def energy_estimates(measured: dict[str, Any]) -> dict[str, Any]:
    """Joules per message at batch 1 (estimate): the process's CPU seconds per message times
    the package power per core."""
    per_core = PACKAGE_WATTS / PACKAGE_CORES
    out: dict[str, Any] = {
        "method": f"estimate: CPU time per message (batch 1, every thread) x {PACKAGE_WATTS:.0f} W "
        f"/ {PACKAGE_CORES} cores = {per_core:.2f} W per busy core (stated, not measured)",
        "watts_per_core": per_core,
    }
    for name, r in measured.items():
        if isinstance(r, dict) and "cpu_ms_per_message_batch1" in r:
            out[name] = {"joules_per_message": r["cpu_ms_per_message_batch1"] / 1e3 * per_core}
    return out


def speedups(measured: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Fastest teacher / each student runtime, at batch 1 and batch 64 (medians)."""
    best = fastest_teacher(measured)
    out: dict[str, dict[str, float]] = {}
    for name in ("student", "student-onnx-int8", "student-c"):
        if name in measured:
            s = measured[name]
            out[name] = {
                key: round(best[key] / s[key], 1)
                for key in ("latency_ms_batch1", "latency_ms_per_message_batch64")
            }
    return out


def summarize(measured: dict[str, Any]) -> dict[str, Any]:
    """The fastest teacher, its speed-up over each student runtime, the energy estimates."""
    return {
        "fastest_teacher": fastest_teacher(measured),
        "fastest_teacher_over": speedups(measured),
        "energy": energy_estimates(measured),
    }


def compare(
    teacher: Path, student: Path, texts: list[str], threads: int = 1, repeats: int = 50
) -> dict[str, Any]:
    """Time every runtime one after the other on this CPU; ratios are teacher / student."""
    measured = measure_all(teacher, {"student": student}, texts, threads, repeats)
    measured |= measure_engines(teacher, student, texts, threads, repeats)
    return {
        "benchmark": "student_vs_teacher",
        "cpu": cpu_name(),
        "threads": threads,
        "repeats": repeats,
        "messages": len(texts),
        "memory_method": MEMORY_METHOD,
        **measured,
        "teacher_over_student": ratios(measured["teacher"], measured["student"]),
        **summarize(measured),
    }


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def _build_models(work: Path, threads: int) -> tuple[Path, Path, list[str]]:
    """A briefly fine-tuned e5-small and a one-epoch student on the synthetic corpus."""
    import torch

    from models.data import write_jsonl
    from models.data.loaders import example_record
    from models.data.synth import SynthConfig, synth_examples
    from models.teacher.finetune import FinetuneConfig, finetune
    from models.tokenizer import Tokenizer
    from models.train import TrainConfig, train_student

    torch.set_num_threads(threads)
    config = SynthConfig(seed=0, phases=1, train=600, valid=200, test=200)
    train, valid = synth_examples(config, 0, "train"), synth_examples(config, 0, "valid")
    data = work / "train.jsonl"
    write_jsonl(data, (example_record(e) for e in train))
    finetune(data, work / "teacher", FinetuneConfig(max_steps=10, max_length=64), progress=False)
    train_student(train, valid, work / "student", tokenizer=Tokenizer(),
                  config=TrainConfig(epochs=1))  # fmt: skip
    texts = [e.text for e in synth_examples(config, 0, "test")][:BATCH]
    return work / "teacher", work / "student", texts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", type=Path, help="fine-tuned teacher folder")
    parser.add_argument("--student", type=Path, help="student folder")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads, every runtime")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--out", type=Path, help="also write the JSON to this file")
    parser.add_argument("--worker", choices=sorted(RUNTIME_NAMES), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--texts", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        texts = json.loads(args.texts.read_text(encoding="utf-8"))
        print(json.dumps(worker(args.worker, args.path, texts, args.threads, args.repeats)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        if args.teacher is None or args.student is None:
            teacher, student, texts = _build_models(Path(tmp), args.threads)
        else:
            from models.data.synth import SynthConfig, synth_examples

            teacher, student = args.teacher, args.student
            config = SynthConfig(seed=0, phases=1, train=100, valid=10, test=BATCH)
            texts = [e.text for e in synth_examples(config, 0, "test")][:BATCH]
        result = compare(teacher, student, texts, args.threads, args.repeats)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
