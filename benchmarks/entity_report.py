"""Entity F1 rows of the evaluation report: teacher, student without KD, with KD, int8.

``run_entity_eval`` fine-tunes a token-tag teacher on the synthetic corpus' entity spans
(``fleet teacher finetune --task tag``), trains two tagging students (``num_tags = 11``,
pooling "last" so the integer engine runs them): hard labels and gold tags only (CRF), and
distilled (classification KD from a classification teacher + emission KD from the tag
teacher), converts both to the integer tagger (int8 weights, int32 emissions, integer
Viterbi) and scores every model's entities (exact character spans) on the test split, per
entity type and per language. The evaluation report (``benchmarks/evaluation_report.py``) can
call it with the classification teacher it already fine-tuned (``cls_teacher``) and add
``render_entity_table``'s rows; ``python -m benchmarks.entity_f1`` runs it alone.

Resumable: every finished step leaves its result under ``work`` (a ``.done`` marker next to
each fine-tuned teacher, ``rows-<step>.json`` with each step's rows and time), and a run over
the same ``work`` and config skips the steps already done, so an interrupted run loses at most
the step in progress.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from models.data.spans import ENTITY_TYPES
from models.tagging import TagLossConfig

GOAL_SHARE = 0.95  # int8 student's entity F1 / the teacher's


@dataclass(frozen=True)
class EntityEvalConfig:
    seed: int = 0  # corpus seed, training seed, augmentation
    train: int = 6000  # phase-0 training examples (the corpus' default)
    valid: int = 1000
    test: int = 1000
    teacher: str = "e5-small"  # base of both teachers
    teacher_steps: int = 300  # classification teacher steps (when none is given)
    tag_teacher_steps: int = 300  # tag teacher steps (batch 16)
    max_length: int = 64  # teacher tokens per text
    stage_epochs: tuple[int, int, int] = (3, 5, 0)  # hard, output, full epochs of the KD student
    transfer: int = 1  # augmented transfer texts per training example (teacher-labeled)
    tag_loss: TagLossConfig = field(default_factory=TagLossConfig)
    threads: int = 2


def run_entity_eval(
    config: EntityEvalConfig,
    work: Path,
    cls_teacher: Path | None = None,
    progress: bool = False,
    tag_teacher: Path | None = None,
) -> dict[str, Any]:
    """Train and score everything under ``work``; returns the rows and sizes as JSON-able.
    ``cls_teacher`` / ``tag_teacher``: already fine-tuned teachers to use instead."""
    import torch

    from models.data.augment import augment_corpus
    from models.data.loaders import write_jsonl
    from models.data.synth import SynthConfig, generate_phase, to_examples
    from models.distill import DistillConfig, distill
    from models.entity_eval import entity_report, scored_examples
    from models.evaluate import evaluate_examples, integer_metrics
    from models.footprint import fit_to_slot
    from models.inttagger import integer_entities
    from models.quantize import quantize_student
    from models.student import StudentConfig
    from models.tag_targets import TeacherTagger
    from models.tagging import NUM_TAGS, evaluate_tagger
    from models.teacher import Teacher
    from models.teacher.finetune import FinetuneConfig, finetune
    from models.teacher.tagger import teacher_entities
    from models.teacher_targets import TargetConfig, TeacherTargets
    from models.tokenizer import Tokenizer

    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    synth = SynthConfig(seed=config.seed, train=config.train, valid=config.valid,
                        test=config.test, phases=1)  # fmt: skip
    records = generate_phase(synth, 0)
    train, valid, test = (to_examples(records[s]) for s in ("train", "valid", "test"))
    write_jsonl(work / "train.jsonl", records["train"])
    gold, texts, langs = scored_examples(test)
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}

    def row(name: str, entities: Any, **extra: Any) -> dict[str, Any]:
        return {"model": name, **entity_report(gold, entities, langs).to_dict(), **extra}

    def step(name: str, compute: Callable[[], list[dict[str, Any]]]) -> None:
        """Rows of one step, from ``rows-<name>.json`` when an earlier run finished it."""
        done = work / f"rows-{name}.json"
        if done.exists():
            saved = json.loads(done.read_text(encoding="utf-8"))
        else:
            t0 = time.perf_counter()
            saved = {"rows": compute(), "seconds": time.perf_counter() - t0}
            done.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
        rows.extend(saved["rows"])
        timings[f"{name}_s"] = saved["seconds"]

    def teacher_dir(out: Path, ft: Any) -> Path:
        """Fine-tune into ``out`` unless an earlier run finished it (its ``.done`` marker)."""
        marker = out.with_name(out.name + ".done")
        if not marker.exists():
            t0 = time.perf_counter()
            finetune(work / "train.jsonl", out, ft, progress=progress)
            marker.write_text(f"{time.perf_counter() - t0:.1f}\n", encoding="utf-8")
        timings[f"{out.name}_finetune_s"] = float(marker.read_text(encoding="utf-8"))
        return out

    # 1. Teachers: the tag teacher (and the classification teacher unless one is given).
    common: dict[str, Any] = {"teacher": config.teacher, "max_length": config.max_length,
                              "seed": config.seed}  # fmt: skip
    tag_ft = FinetuneConfig(task="tag", max_steps=config.tag_teacher_steps, **common)
    tag_dir = tag_teacher or teacher_dir(work / "teacher-tag", tag_ft)
    if cls_teacher is None:
        cls_ft = FinetuneConfig(max_steps=config.teacher_steps, **common)
        cls_teacher = teacher_dir(work / "teacher", cls_ft)
    tagging_teacher = Teacher(tag_dir, max_length=config.max_length)
    name = "teacher (e5-small, tag head)"
    steps = config.tag_teacher_steps
    step("teacher", lambda: [row(name, teacher_entities(tagging_teacher, texts), steps=steps)])

    # 2. Students: gold tags only, then with KD from both teachers.
    tokenizer = Tokenizer()
    targets = TeacherTargets.load(cls_teacher, TargetConfig(max_length=config.max_length))
    labels = targets.labels
    student = fit_to_slot(StudentConfig(num_labels=len(labels), pooling="last", num_tags=NUM_TAGS),
                          labels)  # fmt: skip
    transfer = augment_corpus(train, config.transfer, config.seed) if config.transfer else []
    variants = [("student, no KD", None, (sum(config.stage_epochs), 0, 0)),
                ("student + KD", targets, config.stage_epochs)]  # fmt: skip

    def student_rows(name: str, teacher: Any, stages: tuple[int, int, int]) -> list[dict[str, Any]]:
        result = distill(
            train, valid, work / slug(name),
            teacher=teacher, tokenizer=tokenizer,
            transfer_texts=transfer if teacher is not None else (),
            config=DistillConfig(stage_epochs=stages, seed=config.seed, tag_loss=config.tag_loss),
            student=student, labels=labels, cache_dir=work / "kd-cache", progress=progress,
            tag_teacher=TeacherTagger(tagging_teacher) if teacher is not None else None,
        )  # fmt: skip
        cls = evaluate_examples(result.model, labels, tokenizer, test)
        report = evaluate_tagger(result.model, tokenizer, test)
        # 3. The same student on the integer engine: int8 weights, int32 emissions, Viterbi.
        integer = quantize_student(result.model, labels)
        cls_int = integer_metrics(result.model, labels, tokenizer, test) or {}
        return [
            {"model": f"{name} (fp32)", **report.to_dict(), "accuracy": cls.accuracy,
             "macro_f1": cls.macro_f1},
            row(f"{name} (int8)", integer_entities(result.model, integer, tokenizer, texts),
                accuracy=cls_int.get("accuracy"), macro_f1=cls_int.get("macro_f1")),
        ]  # fmt: skip

    for name, teacher, stages in variants:
        step(slug(name), lambda n=name, t=teacher, s=stages: student_rows(n, t, s))  # type: ignore[misc]
    teacher_f1 = rows[0]["f1"]
    int8_kd = next(r for r in rows if r["model"] == "student + KD (int8)")["f1"]
    sizes = {"train": len(train), "transfer": len(transfer), "test": len(texts),
             "test_entities": sum(len(g) for g in gold)}  # fmt: skip
    share = int8_kd / teacher_f1 if teacher_f1 else 0.0
    return {
        "config": asdict(config),
        "sizes": sizes,
        "rows": rows,
        "goal": {"int8_kd_over_teacher": share, "target": GOAL_SHARE},
        "seconds": round(time.perf_counter() - started, 1),
        "timings_s": {k: round(v, 1) for k, v in timings.items()},
    }


def slug(name: str) -> str:
    """A step's file name part: ``student + KD`` -> ``student_kd_KD``."""
    return name.replace(" ", "_").replace(",", "").replace("+", "kd")


def render_entity_table(result: dict[str, Any]) -> str:
    """Markdown: one row per model, F1 / P / R overall, F1 per type and per language."""
    langs = ("zh", "en", "mix")
    head = ("| model | entity F1 | P | R | " + " | ".join(ENTITY_TYPES) + " | "
            + " | ".join(langs) + " | class. macro-F1 |")  # fmt: skip
    lines = [head, "|---|" + "---:|" * (3 + len(ENTITY_TYPES) + len(langs) + 1)]
    for r in result["rows"]:
        types = " | ".join(f"{r['by_type'][k]['f1']:.3f}" for k in ENTITY_TYPES)
        by_lang = " | ".join(
            f"{r['by_lang'][k]['f1']:.3f}" if k in r["by_lang"] else "n/a" for k in langs
        )
        macro = "n/a" if r.get("macro_f1") is None else f"{r['macro_f1']:.3f}"
        lines.append(f"| {r['model']} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
                     f"| {types} | {by_lang} | {macro} |")  # fmt: skip
    goal = result["goal"]
    lines += ["", f"int8 KD student / teacher entity F1: {goal['int8_kd_over_teacher']:.1%} "
              f"(goal >= {goal['target']:.0%})."]  # fmt: skip
    return "\n".join(lines) + "\n"
