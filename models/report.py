"""``fleet report``: the seed's evaluation table, regenerated.

For each data set (the synthetic logistics corpus, Banking77, SMP2017-ECDT) the run fine-tunes
the teacher, trains the student without KD and with KD, removes each loss term in turn, and
quantises the default ("last" pooling) KD student to int8 by PTQ and by QAT. Test accuracy and
macro-F1 come from each model; latency, parameters, bytes and peak memory from
``benchmarks/student_vs_teacher.py`` run in the same process tree on the same CPU. The results
are kept as JSON next to the models, rendered to Markdown and charted with matplotlib (Agg).
"""

from __future__ import annotations

import copy
import json
import platform
import random
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from models.errors import ConfigError
from models.losses import LossConfig

DATASETS = ("synth", "banking", "ecdt")
TEACHER_ROW = "teacher (fine-tuned)"


@dataclass(frozen=True)
class Variant:
    """One student row: what it is trained with."""

    name: str  # row label
    pooling: str  # student pooling
    kd: bool  # False: hard labels only, all epochs in stage 1
    loss: LossConfig  # term weights of the KD stages


DEFAULT_LOSS = LossConfig()
VARIANTS = (
    Variant("student, no KD", "attention", False, DEFAULT_LOSS),
    Variant("student + KD", "attention", True, DEFAULT_LOSS),
    Variant("KD - soft", "attention", True, replace(DEFAULT_LOSS, alpha=0.0)),
    Variant("KD - hard", "attention", True, replace(DEFAULT_LOSS, alpha=1.0)),
    Variant("KD - hidden", "attention", True, replace(DEFAULT_LOSS, hidden_weight=0.0)),
    Variant("KD - attention", "attention", True, replace(DEFAULT_LOSS, attention_weight=0.0)),
    Variant("student + KD, last pooling (fp32)", "last", True, DEFAULT_LOSS),
)
PTQ_ROW = "  PTQ int8 (last pooling)"
QAT_ROW = "  QAT int8 (last pooling)"


@dataclass(frozen=True)
class ReportConfig:
    quick: bool  # subsampled data and short training; numbers are not the full ones
    datasets: tuple[str, ...] = DATASETS  # which corpora get a table
    max_train: int | None = None  # training examples kept per data set (None: all)
    max_eval: int | None = None  # validation and test examples kept (None: all)
    stage_epochs: tuple[int, int, int] = (3, 3, 3)  # hard, output, full epochs of KD rows
    transfer: int = 2  # augmented transfer texts per training example (teacher-labelled)
    teacher: str = "e5-small"  # teacher fine-tuned per data set
    teacher_epochs: int = 3  # teacher fine-tuning epochs (when teacher_steps is None)
    teacher_steps: int | None = None  # cap on teacher fine-tuning steps
    max_length: int = 64  # teacher tokens per text
    qat_steps: int = 200  # QAT steps of the int8 row
    threads: int = 2  # torch threads for training and timing
    repeats: int = 50  # timed runs per latency figure
    seed: int = 0  # subsampling, training and augmentation

    def __post_init__(self) -> None:
        unknown = sorted(set(self.datasets) - set(DATASETS))
        if unknown or not self.datasets:
            raise ConfigError(f"datasets must be among {', '.join(DATASETS)}, got {unknown}")

    @classmethod
    def preset(cls, quick: bool, **overrides: Any) -> ReportConfig:
        """The full run (``make bench``) or the quick one (~15 min on 2 cores)."""
        if quick:
            base = cls(quick=True, max_train=1500, max_eval=500, stage_epochs=(1, 1, 1),
                       transfer=1, teacher_steps=80, qat_steps=40, repeats=30)  # fmt: skip
        else:
            base = cls(quick=False)
        return replace(base, **overrides)


def _subsample(examples: list, n: int | None, seed: int) -> list:
    if n is None or len(examples) <= n:
        return list(examples)
    return random.Random(seed).sample(list(examples), n)


def load_splits(name: str, config: ReportConfig) -> tuple[list, list, list]:
    """(train, valid, test) of one data set, subsampled as ``config`` says."""
    from models.data import load_public
    from models.data.synth import SynthConfig, synth_examples

    if name == "synth":
        synth = SynthConfig(seed=config.seed, phases=1)
        splits = [synth_examples(synth, 0, s) for s in ("train", "valid", "test")]
    else:
        splits = [load_public(name, s) for s in ("train", "valid", "test")]
    train, valid, test = splits
    return (
        _subsample(train, config.max_train, config.seed),
        _subsample(valid, config.max_eval, config.seed + 1),
        _subsample(test, config.max_eval, config.seed + 2),
    )


def _row(model: str, accuracy: float | None, f1: float | None, **extra: Any) -> dict[str, Any]:
    return {"model": model, "accuracy": accuracy, "macro_f1": f1, **extra}


def run_dataset(name: str, config: ReportConfig, work: Path) -> dict[str, Any]:
    """Teacher, students and int8 rows of one data set; models are kept under ``work``."""
    import numpy as np

    from models.cli_distill import integer_metrics
    from models.data import write_jsonl
    from models.data.augment import augment_corpus
    from models.data.loaders import example_record
    from models.distill import DistillConfig, distill
    from models.evaluate import compute_metrics, evaluate_examples
    from models.qat import qat_finetune
    from models.student import StudentConfig, save_student
    from models.teacher import Teacher
    from models.teacher.finetune import FinetuneConfig, finetune
    from models.teacher_targets import TargetConfig, TeacherTargets
    from models.tokenizer import Tokenizer

    started = time.perf_counter()
    train, valid, test = load_splits(name, config)
    work.mkdir(parents=True, exist_ok=True)
    # 1. Fine-tune the teacher (resumes from its checkpoints when rerun) and score it.
    data = work / "train.jsonl"
    write_jsonl(data, (example_record(e) for e in train))
    ft = FinetuneConfig(teacher=config.teacher, epochs=config.teacher_epochs,
                        max_steps=config.teacher_steps, max_length=config.max_length,
                        seed=config.seed)  # fmt: skip
    result = finetune(data, work / "teacher", ft, progress=True)
    labels = result.labels
    index = {label: k for k, label in enumerate(labels)}
    known = [ex for ex in test if ex.label in index]
    teacher = Teacher(result.out_dir, max_length=config.max_length)
    probs = teacher.predict_proba([ex.text for ex in known]).numpy()
    t_report = compute_metrics(np.array([index[ex.label] for ex in known]), probs, labels)
    rows = [_row(TEACHER_ROW, t_report.accuracy, t_report.macro_f1, kind="teacher",
                 parameters=sum(p.numel() for p in teacher.parameters()))]  # fmt: skip
    del teacher

    # 2. The student rows: same data, same seed, same total epochs.
    targets = TeacherTargets.load(result.out_dir, TargetConfig(max_length=config.max_length))
    transfer = augment_corpus(train, config.transfer, config.seed)
    tokenizer = Tokenizer()
    students: dict[str, Path] = {}
    for variant in VARIANTS:
        out = work / "".join(ch if ch.isalnum() else "_" for ch in variant.name)
        epochs = config.stage_epochs if variant.kd else (sum(config.stage_epochs), 0, 0)
        distilled = distill(
            train, valid, out,
            teacher=targets if variant.kd else None,
            tokenizer=tokenizer,
            transfer_texts=transfer if variant.kd else (),
            config=DistillConfig(stage_epochs=epochs, loss=variant.loss, seed=config.seed),
            student=StudentConfig(num_labels=len(labels), pooling=variant.pooling),
            labels=labels,
            cache_dir=work / "kd-cache",
            progress=True,
        )  # fmt: skip
        report = evaluate_examples(distilled.model, labels, tokenizer, test)
        params = sum(p.numel() for p in distilled.model.parameters())
        rows.append(_row(variant.name, report.accuracy, report.macro_f1, kind=variant.pooling,
                         parameters=params, bytes=4 * params))  # fmt: skip
        if variant.kd and variant.loss == DEFAULT_LOSS:  # the two timed students
            students[variant.pooling] = out
        # 3. int8 rows of the default student: the converter alone, then QAT.
        if variant.pooling == "last":
            ptq = integer_metrics(distilled.model, labels, tokenizer, test)
            assert ptq is not None
            rows.append(_row(PTQ_ROW, ptq["accuracy"], ptq["macro_f1"], kind="int8",
                             parameters=params, bytes=ptq["blob_bytes"]))  # fmt: skip
            qat_model = copy.deepcopy(distilled.model)
            qat = qat_finetune(qat_model, train, valid, tokenizer, labels=labels,
                               steps=config.qat_steps, seed=config.seed)  # fmt: skip
            save_student(qat.model, labels, work / "qat")
            q = integer_metrics(qat.model, labels, tokenizer, test)
            assert q is not None
            rows.append(_row(QAT_ROW, q["accuracy"], q["macro_f1"], kind="int8",
                             parameters=params, bytes=q["blob_bytes"]))  # fmt: skip
    return {
        "sizes": {"train": len(train), "valid": len(valid), "test": len(test),
                  "transfer": len(transfer), "labels": len(labels),
                  "test_with_known_label": len(known)},
        "teacher_steps": result.steps,
        "rows": rows,
        "paths": {"teacher": str(result.out_dir), **{k: str(v) for k, v in students.items()}},
        "seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip


def measure_latency(dataset: dict[str, Any], config: ReportConfig, texts: list[str]) -> dict:
    """Teacher vs the attention- and the last-pooling KD student of one data set."""
    from benchmarks.student_vs_teacher import MEMORY_METHOD, cpu_name, measure_all, ratios

    paths = {k: Path(v) for k, v in dataset["paths"].items()}
    students = {k: paths[k] for k in ("attention", "last")}
    measured = measure_all(paths["teacher"], students, texts, config.threads, config.repeats)
    return {
        "cpu": cpu_name(),
        "memory_method": MEMORY_METHOD,
        "repeats": config.repeats,
        **measured,
        "teacher_over_last_student": ratios(measured["teacher"], measured["last"]),
    }


def attach_latency(results: dict[str, Any]) -> None:
    """Copy the measured latency, bytes and memory into every table row (in place)."""
    bench = results["latency"]
    for data in results["datasets"].values():
        for row in data["rows"]:
            if row["kind"] == "int8":
                continue  # the integer engine runs on the device, not timed on the CPU here
            src = bench[row["kind"]]  # teacher | attention | last
            key = "safetensors_bytes" if row["kind"] == "teacher" else "fp32_safetensors_bytes"
            row["bytes"] = src[key]
            row["latency_ms_batch1"] = src["latency_ms_batch1"]
            row["latency_ms_batch64"] = src["latency_ms_per_message_batch64"]
            row["peak_rss_mb"] = src["peak_rss_mb"]
            row["model_rss_mb"] = src["model_rss_mb"]


def run_report(config: ReportConfig, out: Path, work: Path, reuse: bool = False) -> Path:
    """Run everything, then write ``out`` (Markdown), ``out.png`` and ``work/results.json``.

    With ``reuse``, data sets already in ``work/results.json`` from a run with the same config
    keep their models and scores; only the missing ones train, and the timing runs again.
    """
    import torch

    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    results: dict[str, Any] = {"config": asdict(config), "datasets": {}}
    previous: dict[str, Any] = {}
    saved = work / "results.json"
    if reuse and saved.is_file():
        old = json.loads(saved.read_text())
        if old.get("config") == json.loads(json.dumps(asdict(config))):
            previous = old["datasets"]
    for name in config.datasets:
        results["datasets"][name] = previous.get(name) or run_dataset(name, config, work / name)
    results["reused"] = sorted(previous.keys() & set(config.datasets))
    first = results["datasets"][config.datasets[0]]
    _, _, test = load_splits(config.datasets[0], config)
    results["latency"] = measure_latency(first, config, [ex.text for ex in test[:64]])
    results["latency_dataset"] = config.datasets[0]
    attach_latency(results)
    results["environment"] = {
        "cpu": results["latency"]["cpu"],
        "threads": config.threads,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - started, 1),
    }
    work.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, ensure_ascii=False, indent=1))
    return write_report(results, out)


def write_report(results: dict[str, Any], out: Path) -> Path:
    """Markdown at ``out`` and the chart beside it (``.png``)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    chart = out.with_suffix(".png")
    plot(results, chart)
    out.write_text(render_markdown(results, chart.name), encoding="utf-8")
    return out


def _fmt(value: Any, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def render_markdown(results: dict[str, Any], chart_name: str) -> str:
    """The report as Markdown: how it was made, one table per data set, the notes."""
    c, env = results["config"], results.get("environment", {})
    train_seconds = sum(d.get("seconds", 0.0) for d in results["datasets"].values())
    mode = "QUICK: subsampled, short training, not the full numbers" if c["quick"] else "full"
    command = "fleet report --quick" if c["quick"] else "fleet report"
    lines = [
        "# Evaluation report: teacher vs TinyLSTM student",
        "",
        f"Generated by `{command}` ({mode}) on {env.get('date', '?')}, "
        f"{env.get('cpu', '?')}, {c['threads']} torch threads: "
        f"{train_seconds:.0f} s of fine-tuning, training and scoring, then the timing runs.",
        "",
        f"- Teacher: `{c['teacher']}` fine-tuned per data set "
        + (f"for {c['teacher_steps']} steps" if c["teacher_steps"] else
           f"for {c['teacher_epochs']} epochs")
        + f" (batch 16, max {c['max_length']} tokens).",
        f"- Students: stages hard/output/full = {tuple(c['stage_epochs'])} epochs; the no-KD row "
        f"trains {sum(c['stage_epochs'])} epochs on hard labels only. "
        f"{c['transfer']} augmented transfer text(s) per training example, labelled by the "
        f"teacher. QAT: {c['qat_steps']} steps.",
        *(
            [f"- Models and scores of {', '.join(results['reused'])} come from an earlier run "
             "with the same config (`--reuse`); the timing columns were measured in this one."]
            if results.get("reused") else []
        ),
        f"- Data: train capped at {c['max_train'] or 'all'}, valid/test at "
        f"{c['max_eval'] or 'all'} examples; sizes per table below.",
        "",
        f"![accuracy and latency]({chart_name})",
        "",
    ]  # fmt: skip
    header = ("| model | accuracy | macro-F1 | latency b=1 (ms) | latency b=64 (ms/msg) "
              "| parameters | model bytes | peak RSS (MB) | model RSS (MB) |")  # fmt: skip
    for name, data in results["datasets"].items():
        s = data["sizes"]
        lines += [
            f"## {name}",
            "",
            f"train {s['train']} (+{s['transfer']} transfer), valid {s['valid']}, test "
            f"{s['test']} ({s['test_with_known_label']} with a label the teacher knows), "
            f"{s['labels']} labels; teacher {data['teacher_steps']} steps.",
            "",
            header,
            "|" + "---|" * 9,
        ]
        for r in data["rows"]:
            lines.append(
                f"| {r['model']} | {_fmt(r['accuracy'], '.4f')} | {_fmt(r['macro_f1'], '.4f')} "
                f"| {_fmt(r.get('latency_ms_batch1'), '.2f')} "
                f"| {_fmt(r.get('latency_ms_batch64'), '.3f')} "
                f"| {r['parameters']:,} | {_bytes(r.get('bytes'))} "
                f"| {_fmt(r.get('peak_rss_mb'), '.0f')} | {_fmt(r.get('model_rss_mb'), '.0f')} |"
            )
        lines.append("")
    latency = results.get("latency", {})
    ratio = latency.get("teacher_over_last_student", {})
    lines += [
        "## Notes",
        "",
        f"- Latency, bytes and memory were measured once, on the "
        f"`{results.get('latency_dataset', '?')}` models, by `benchmarks/student_vs_teacher.py` "
        "in this run (they do not depend on the data set beyond the head size): classification "
        "end to end (tokenise + forward + softmax), median of repeated runs after warm-up. "
        "Teacher / last-pooling student: "
        + ", ".join(f"{k.replace('_', ' ')} {v}x" for k, v in ratio.items())
        + ".",
        f"- The teacher's parameters include its word embedding "
        f"({latency.get('teacher', {}).get('embedding_parameters', 0):,} of them: e5's "
        "250k-piece multilingual vocabulary); the student's hashed embedding is 2048 x 64.",
        f"- Memory: {latency.get('memory_method', 'n/a')}. Both workers import "
        "torch and transformers, so the peak RSS is dominated by the imports; the model RSS "
        "column is the model's own share.",
        "- Bytes: teacher = its safetensors (encoder + head); fp32 students = their "
        "safetensors file; int8 rows = the device model blob (`docs/model-blob.md`). The int8 "
        "rows run on the microcontroller's integer engine, so no CPU latency is given for them; "
        "`benchmarks/mcu_cost.py` counts their instructions per message on the Cortex-M4.",
        "- Energy is not reported: nothing here measures it.",
        "- Attention transfer needs a student that pools by attention, so the KD rows and their "
        "ablations use `pooling=attention`; the no-KD row uses the same pooling so that KD is "
        "the only difference. The int8 engine implements `last` pooling only, so the PTQ/QAT "
        "rows come from a separate KD student with `pooling=last` (all terms but attention).",
        "- Ablations remove one term from the KD stages (output and full); stage 1 (hard labels) "
        "is the same in every row. `KD - soft` sets alpha = 0, `KD - hard` alpha = 1.",
        "- Validation picks each student's best epoch by macro-F1; test numbers are reported.",
        "",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> Path:
    """Macro-F1 per model and data set (left), CPU latency at batch 1 (right, log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(results["datasets"])
    models = [r["model"] for r in results["datasets"][datasets[0]]["rows"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 1]})
    width = 0.8 / max(len(datasets), 1)
    for k, name in enumerate(datasets):
        by_model = {r["model"]: r["macro_f1"] for r in results["datasets"][name]["rows"]}
        values = [by_model.get(m) or 0.0 for m in models]
        left.barh([i + k * width for i in range(len(models))], values, height=width, label=name)
    left.set_yticks([i + width * (len(datasets) - 1) / 2 for i in range(len(models))])
    left.set_yticklabels([m.strip() for m in models], fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("test macro-F1")
    left.set_xlim(0, 1)
    left.legend(fontsize=8)
    # Right: CPU latency per message of the teacher and the two timed students (log scale).
    short = {TEACHER_ROW: "teacher", VARIANTS[1].name: "student\n(attention)",
             VARIANTS[-1].name: "student\n(last)"}  # fmt: skip
    rows = results["datasets"][datasets[0]]["rows"]
    timed = [r for r in rows if r["model"] in short and r.get("latency_ms_batch1") is not None]
    x = range(len(timed))
    right.bar([i - 0.2 for i in x], [r["latency_ms_batch1"] for r in timed], 0.4, label="batch 1")
    right.bar([i + 0.2 for i in x], [r["latency_ms_batch64"] for r in timed], 0.4,
              label="batch 64")  # fmt: skip
    right.set_xticks(list(x))
    right.set_xticklabels([short[r["model"]] for r in timed], fontsize=8)
    right.set_yscale("log")
    right.set_ylabel("CPU latency per message (ms)")
    right.legend(fontsize=8)
    title = "QUICK run (subsampled)" if results["config"]["quick"] else "full run"
    fig.suptitle(f"Teacher vs TinyLSTM student - {title}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
