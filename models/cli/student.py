"""``fleet train student`` and ``fleet eval``: stage-1 training and evaluation of the student.

Heavy imports (torch) happen inside the commands so ``fleet --help`` stays fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from models.errors import ModelsError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from models.entity_eval import EntityReport
    from models.evaluate import EvalReport
    from models.student import StudentConfig

DATA_SUFFIXES = (".jsonl", ".ndjson", ".csv", ".tsv")
SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "dev"), "test": ("test",)}
# The embedding options default to None, meaning StudentConfig's default (spec v2's hash
# embedding, K = 2, P = 4096); ``--hashes 1 --buckets 0`` trains a spec v1 student.
HashesOpt = Annotated[
    int | None,
    typer.Option(min=1, help="Table rows per token K (default 2; 1 with --buckets 0: spec v1)"),
]
BucketsOpt = Annotated[
    int | None, typer.Option(min=0, help="Importance-weight rows P (default 4096; 0: none)")
]


def embedding_overrides(hashes: int | None, buckets: int | None) -> dict[str, int]:
    """The StudentConfig fields the embedding options set (none: the config's defaults)."""
    return {k: v for k, v in (("hashes", hashes), ("buckets", buckets)) if v is not None}


def fitted(student: StudentConfig, labels: Sequence[str]) -> StudentConfig:
    """``student`` with as many embedding rows as the device's OTA slot leaves room for (fewer
    only for a large label set, ``models.footprint``); says so when it cut rows."""
    from models.footprint import fit_to_slot

    fit = fit_to_slot(student, labels)
    if fit.vocab_size != student.vocab_size:
        typer.echo(f"{len(labels)} labels: {fit.vocab_size} embedding rows instead of "
                   f"{student.vocab_size}, so the blob fits the device's OTA slot")  # fmt: skip
    return fit


def find_split(directory: Path, split: str) -> Path | None:
    """``<dir>/<split>.<jsonl|csv|tsv>`` (``valid`` may also be called ``dev``), or None."""
    for stem in SPLIT_NAMES[split]:
        for suffix in DATA_SUFFIXES:
            path = directory / f"{stem}{suffix}"
            if path.is_file():
                return path
    return None


def resolve_data(data: Path, valid: Path | None) -> tuple[Path, Path, Path | None]:
    """(train, valid, test or None) from a data directory or a train file plus ``--valid``."""
    if data.is_dir():
        train_path = find_split(data, "train")
        valid_path = valid or find_split(data, "valid")
        test_path = find_split(data, "test")
        if train_path is None or valid_path is None:
            raise ModelsError(
                f"{data} needs train.jsonl and valid.jsonl (or .csv/.tsv; valid may be dev.*)"
            )
        return train_path, valid_path, test_path
    if not data.is_file():
        raise ModelsError(f"no such data file or directory: {data}")
    if valid is None:
        raise ModelsError("--data is a file: pass the validation file with --valid")
    return data, valid, None


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def train_student_command(
    data: Annotated[
        Path, typer.Option(help="Directory with train/valid(/test) .jsonl|.csv, or a train file")
    ],
    out: Annotated[Path, typer.Option(help="Output directory for the student and its metrics")],
    valid: Annotated[
        Path | None, typer.Option(help="Validation file (when --data is a file)")
    ] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    lr: Annotated[float, typer.Option()] = 2e-3,
    weight_decay: Annotated[float, typer.Option()] = 0.01,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without valid gain")] = 3,
    seed: Annotated[int, typer.Option()] = 0,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after N steps")] = None,
    pooling: Annotated[str, typer.Option(help="last | meanmax | attention")] = "last",
    hashes: HashesOpt = None,
    buckets: BucketsOpt = None,
    resume: Annotated[bool, typer.Option(help="Continue from <out>/checkpoint.pt")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    tags: Annotated[
        bool, typer.Option(help="Add the entity tagger (CRF on the records' entity spans)")
    ] = False,
) -> None:
    """Train the TinyLSTM student on hard labels (stage 1) and save it with its metrics."""
    # With cores shared by other processes, OpenMP's spinning barriers make the LSTM's small
    # matmuls many times slower; passive waiting avoids that. Only effective before torch
    # is first imported, which the CLI defers to the commands.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from models.data import load_examples
    from models.evaluate import evaluate_examples
    from models.student import StudentConfig
    from models.tagging import NUM_TAGS, evaluate_tagger
    from models.train import METRICS_FILE, TrainConfig, label_list, train_student

    try:
        train_path, valid_path, test_path = resolve_data(data, valid)
        train_set = load_examples(train_path)
        valid_set = load_examples(valid_path)
        labels = label_list(train_set)
        student = StudentConfig(num_labels=max(len(labels), 1), pooling=pooling,
                                num_tags=NUM_TAGS if tags else 0,
                                **embedding_overrides(hashes, buckets))  # fmt: skip
        student = fitted(student, labels)
        config = TrainConfig(
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            seed=seed,
            max_steps=max_steps,
        )
        tokenizer = student.tokenizer()
        result = train_student(
            train_set,
            valid_set,
            out,
            tokenizer=tokenizer,
            config=config,
            student=student,
            labels=labels,
            resume=resume,
            progress=progress,
        )
        metrics_path = out / METRICS_FILE
        metrics = json.loads(metrics_path.read_text())
        if test_path is not None:
            test_set = load_examples(test_path)
            test_report = evaluate_examples(result.model, result.labels, tokenizer, test_set)
            metrics["test"] = test_report.to_dict()
            if tags:
                entities = evaluate_tagger(result.model, tokenizer, test_set)
                metrics["test"]["entities"] = entities.to_dict()
            metrics_path.write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    except ModelsError as exc:
        raise _fail(exc) from exc
    summary = {
        "out": str(out),
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "valid_accuracy": round(result.valid.accuracy, 4),
        "valid_macro_f1": round(result.valid.macro_f1, 4),
    }
    if "test" in metrics:
        summary["test_accuracy"] = round(metrics["test"]["accuracy"], 4)
        summary["test_macro_f1"] = round(metrics["test"]["macro_f1"], 4)
        if "entities" in metrics["test"]:
            summary["test_entity_f1"] = round(metrics["test"]["entities"]["f1"], 4)
    typer.echo(json.dumps(summary, ensure_ascii=False))


def eval_command(
    model: Annotated[Path, typer.Option(help="Student directory written by fleet train student")],
    data: Annotated[Path, typer.Option(help="Labeled data, .jsonl / .csv / .tsv")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON")] = False,
    confusion: Annotated[
        Path | None, typer.Option(help="Write the confusion matrix here (CSV)")
    ] = None,
) -> None:
    """Evaluate a saved student: accuracy, macro-F1, per-class P/R/F1, ECE, confusion matrix;
    for a student with an entity tagger also entity P/R/F1 (exact span) per type and language."""
    from models.data import load_examples
    from models.evaluate import evaluate_examples, write_confusion_csv
    from models.student import load_student
    from models.tagging import evaluate_tagger

    try:
        student, labels = load_student(model)
        tokenizer = student.config.tokenizer()
        examples = load_examples(data)
        report = evaluate_examples(student, labels, tokenizer, examples)
        entities = None
        if student.config.num_tags:
            entities = evaluate_tagger(student, tokenizer, examples)
        if confusion is not None:
            write_confusion_csv(report, confusion)
    except ModelsError as exc:
        raise _fail(exc) from exc
    if as_json:
        out = report.to_dict()
        if entities is not None:
            out["entities"] = entities.to_dict()
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    _print_report(report)
    if entities is not None:
        _print_entities(entities)


def _print_report(report: EvalReport) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"n={report.n}  accuracy={report.accuracy:.4f}  macro-F1={report.macro_f1:.4f}  "
        f"ECE={report.ece:.4f}"
    )
    if report.unknown_labels:
        console.print(
            f"[yellow]{report.unknown_count} examples skipped, labels unknown to the model: "
            f"{report.unknown_labels}"
        )
    table = Table("label", "precision", "recall", "F1", "support")
    for k, label in enumerate(report.labels):
        table.add_row(
            label,
            f"{report.precision[k]:.3f}",
            f"{report.recall[k]:.3f}",
            f"{report.f1[k]:.3f}",
            str(report.support[k]),
        )
    console.print(table)


def _print_entities(report: EntityReport) -> None:
    from rich.console import Console
    from rich.table import Table

    o = report.overall
    Console().print(f"entities (exact span): n={o.gold}  P={o.precision:.4f}  R={o.recall:.4f}  "
                    f"F1={o.f1:.4f}")  # fmt: skip
    table = Table("entities of", "precision", "recall", "F1", "gold")
    for name, c in [*report.by_type.items(), *sorted(report.by_lang.items())]:
        table.add_row(name, f"{c.precision:.3f}", f"{c.recall:.3f}", f"{c.f1:.3f}", str(c.gold))
    Console().print(table)


def register(app: typer.Typer) -> None:
    train = typer.Typer(help="Train models.", no_args_is_help=True)
    train.command("student")(train_student_command)
    app.add_typer(train, name="train")
    app.command("eval")(eval_command)
