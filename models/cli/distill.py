"""``fleet distill``: teacher -> student, optional QAT. (The evaluation report is a benchmark:
``python -m benchmarks.evaluation_report``.)

Heavy imports (torch, transformers) happen inside the commands so ``fleet --help`` stays fast.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from models.cli.student import BucketsOpt, HashesOpt, embedding_overrides, fitted, resolve_data
from models.errors import ConfigError, ModelsError


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def parse_stages(text: str) -> tuple[int, int, int]:
    """``"h,o,f"`` -> three epoch counts (hard, output, full)."""
    try:
        parts = tuple(int(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0:
        raise ConfigError(f"--stages takes three epoch counts h,o,f (e.g. 3,3,3), got {text!r}")
    return parts


def distill_command(
    teacher: Annotated[Path, typer.Option(help="Fine-tuned teacher (fleet teacher finetune)")],
    data: Annotated[
        Path, typer.Option(help="Directory with train/valid(/test) .jsonl|.csv, or a train file")
    ],
    out: Annotated[Path, typer.Option(help="Output directory: student, metrics, checkpoints")],
    valid: Annotated[Path | None, typer.Option(help="Validation file (--data is a file)")] = None,
    transfer: Annotated[
        int, typer.Option(min=0, help="Augmented texts per example, labeled by the teacher")
    ] = 0,
    stages: Annotated[str, typer.Option(help="Epochs of the hard,output,full stages")] = "3,3,3",
    alpha: Annotated[float, typer.Option(help="Weight of the soft KD term")] = 0.7,
    temperature: Annotated[float, typer.Option(help="KD temperature")] = 3.0,
    hidden_weight: Annotated[float, typer.Option(help="Weight of the hidden-state MSE")] = 0.3,
    attention_weight: Annotated[float, typer.Option(help="Weight of attention transfer")] = 0.3,
    pooling: Annotated[
        str, typer.Option(help="last (int8 kernel) | attention (attention transfer) | meanmax")
    ] = "last",
    hashes: HashesOpt = None,
    buckets: BucketsOpt = None,
    hidden_layer: Annotated[
        int | None, typer.Option(help="Teacher layer for the hidden term (default: middle)")
    ] = None,
    qat_steps: Annotated[
        int, typer.Option(min=0, help="QAT steps through the int8 simulation (pooling last)")
    ] = 0,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option()] = 2e-3,
    seed: Annotated[int, typer.Option()] = 0,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Cap optimizer steps per stage (smoke runs)")
    ] = None,
    cache_dir: Annotated[
        Path | None, typer.Option(help="Teacher-target cache (default <out>/kd-cache)")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from <out>/distill_checkpoint.pt")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per stage")] = True,
    tags: Annotated[
        bool, typer.Option(help="Add the entity tagger (CRF on gold entity spans)")
    ] = False,
    tag_teacher: Annotated[
        Path | None,
        typer.Option(help="Tag teacher (finetune --task tag): emission KD; implies --tags"),
    ] = None,
    tag_alpha: Annotated[float, typer.Option(help="Share of the emission KD term")] = 0.3,
    tag_temperature: Annotated[float, typer.Option(help="Emission KD temperature")] = 1.0,
) -> None:
    """Distill a fine-tuned teacher into the TinyLSTM student (hard -> output -> full stages)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from models.data import load_examples
    from models.data.augment import augment_corpus
    from models.distill import DistillConfig, distill
    from models.entity_eval import entity_report, scored_examples
    from models.evaluate import evaluate_examples, integer_metrics
    from models.inttagger import integer_entities
    from models.losses import LossConfig
    from models.quantize import quantize_student
    from models.student import StudentConfig, save_student
    from models.tag_targets import TeacherTagger
    from models.tagging import NUM_TAGS, TagLossConfig, evaluate_tagger
    from models.teacher_targets import TargetConfig, TeacherTargets

    try:
        # 1. Data, teacher and the label order of the teacher's head.
        train_path, valid_path, test_path = resolve_data(data, valid)
        train_set, valid_set = load_examples(train_path), load_examples(valid_path)
        if qat_steps and pooling != "last":
            raise ConfigError("--qat-steps needs --pooling last (the int8 engine's pooling)")
        config = DistillConfig(
            stage_epochs=parse_stages(stages),
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            max_steps_per_stage=max_steps,
            loss=LossConfig(alpha, temperature, hidden_weight, attention_weight),
            tag_loss=TagLossConfig(alpha=tag_alpha, temperature=tag_temperature),
        )
        tags = tags or tag_teacher is not None
        tagger = TeacherTagger.load(tag_teacher) if tag_teacher is not None else None
        targets = TeacherTargets.load(teacher, TargetConfig(hidden_layer=hidden_layer))
        labels = targets.labels
        unknown = sorted({ex.label for ex in train_set} - set(labels))
        if unknown:
            raise ConfigError(f"training labels the teacher's head lacks: {unknown[:10]}")
        student = StudentConfig(num_labels=len(labels), pooling=pooling,
                                num_tags=NUM_TAGS if tags else 0,
                                **embedding_overrides(hashes, buckets))  # fmt: skip
        student = fitted(student, labels)
        tokenizer = student.tokenizer()
        # 2. Transfer texts: augmented rewrites of the training texts, labeled by the teacher.
        transfer_texts = augment_corpus(train_set, transfer, seed) if transfer else []
        typer.echo(f"{len(train_set)} train + {len(transfer_texts)} transfer texts, "
                   f"{len(labels)} labels, teacher {teacher}")  # fmt: skip
        result = distill(
            train_set,
            valid_set,
            out,
            teacher=targets,
            tokenizer=tokenizer,
            transfer_texts=transfer_texts,
            config=config,
            student=student,
            labels=labels,
            cache_dir=cache_dir or out / "kd-cache",
            resume=resume,
            progress=progress,
            tag_teacher=tagger,
        )
        # 3. Test metrics, then the optional QAT stage on a copy (the float student stays).
        metrics: dict[str, Any] = json.loads((out / "metrics.json").read_text())
        metrics["teacher_targets"] = targets.teacher_id
        evaluated = load_examples(test_path) if test_path is not None else valid_set
        metrics["eval_split"] = "test" if test_path else "valid"
        report = evaluate_examples(result.model, labels, tokenizer, evaluated)
        metrics["eval"] = {"accuracy": report.accuracy, "macro_f1": report.macro_f1}
        if tags:
            metrics["eval"]["entity_f1"] = evaluate_tagger(result.model, tokenizer, evaluated).f1
        if pooling == "last":
            metrics["ptq_int8"] = integer_metrics(result.model, labels, tokenizer, evaluated)
            if tags:
                gold, texts, langs = scored_examples(evaluated)
                integer = quantize_student(result.model, labels)
                found = integer_entities(result.model, integer, tokenizer, texts)
                metrics["ptq_int8"]["entity_f1"] = entity_report(gold, found, langs).f1
        if qat_steps:
            from models.qat import qat_finetune

            qat_model = copy.deepcopy(result.model)
            qat = qat_finetune(qat_model, train_set, valid_set, tokenizer, labels=labels,
                               steps=qat_steps, seed=seed)  # fmt: skip
            save_student(qat.model, labels, out / "qat")
            metrics["qat_int8"] = integer_metrics(qat.model, labels, tokenizer, evaluated)
            metrics["qat_int8"]["steps"] = qat.steps
    except ModelsError as exc:
        raise _fail(exc) from exc
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    summary = {"out": str(out), "best": result.best, metrics["eval_split"]: metrics["eval"]}
    for key in ("ptq_int8", "qat_int8"):
        if metrics.get(key):
            summary[key] = metrics[key]
    typer.echo(json.dumps(summary, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    app.command("distill")(distill_command)
