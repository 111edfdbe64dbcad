"""Adapt the teacher to the domain before distilling: a pooled encoder + linear head trained
with cross-entropy on labeled texts until the validation accuracy stops improving.
``task="tag"`` trains a token tag head instead (BIO entity tags from the records'
``entities``, ``models.teacher.tagger``): cross-entropy per teacher token that covers text,
validated by entity F1.

Output folder (see ``models.teacher.classifier``)::

    out/teacher.json, labels.json, head.safetensors, encoder/   the fine-tuned teacher (best
                                                                 validation epoch)
    out/history.json                                             one row per validated epoch
    out/best/                                                    best weights so far (resume)
    out/checkpoints/step-0000040/                                the last few checkpoints:
        encoder/ head.safetensors labels.json                    weights (safetensors)
        optimizer.pt rng.pt state.json                           optimiser, RNG, step, history

The schedule is linear warm-up then linear decay over ``epochs`` (the most the run may take);
with a validation set the run stops early after ``patience`` epochs without a better
validation accuracy and keeps the best epoch's weights. Batches hold texts of similar length
(``models.batching.epoch_batches``), which halves the padding the
encoder computes on short messages. A run that finds a checkpoint in ``out/checkpoints``
continues from the newest one: same data order, same optimiser and schedule state, same dropout
RNG, same early-stopping state, so an interrupted run ends where an uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.batching import epoch_batches
from models.data.loaders import load_examples
from models.data.record import Example, LabelSet
from models.data.spans import IGNORE_TAG, TAGS, Entity, example_entities
from models.errors import ConfigError, DataError
from models.teacher.classifier import FinetunedLayout, save_head, write_meta
from models.teacher.encoder import Teacher
from models.teacher.tagger import TAG_HEAD_FILE, gold_teacher_tags, save_tag_head, teacher_entities

_STEP_DIR = re.compile(r"^step-(\d+)$")
TASKS = ("classify", "tag")


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of one fine-tuning run."""

    teacher: str = "e5-small"  # shipped name (e5-small, minilm) or a checkpoint folder
    epochs: int = 10  # most passes over the data; the schedule decays to 0 at the end of these
    patience: int = 2  # validated epochs without a better accuracy before stopping early
    max_steps: int | None = None  # stop after this many steps in total (smoke runs; the
    #                               schedule stays that of ``epochs``, so a resumed run matches)
    batch_size: int = 32  # texts per step
    lr: float = 1e-4  # peak AdamW learning rate of the encoder
    head_lr: float = 2e-3  # peak AdamW learning rate of the freshly initialised head
    warmup: float = 0.06  # share of the scheduled steps spent warming up linearly from 0
    weight_decay: float = 0.01  # AdamW decoupled weight decay (not on biases/LayerNorm)
    max_length: int = 128  # tokens per text, after the text prefix
    dropout: float = 0.1  # head dropout (the encoder keeps its own)
    freeze_embeddings: bool = True  # e5's 96M-row word table: frozen, no optimiser state
    checkpoint_every: int = 100  # steps between checkpoints (and one at every epoch end)
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    seed: int = 0  # data order, head init and dropout
    task: str = "classify"  # "classify" (a label per text) | "tag" (entity tags per token)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {', '.join(TASKS)}, got {self.task!r}")
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ConfigError("epochs, batch_size and checkpoint_every must be >= 1")
        if self.patience < 1:
            raise ConfigError(f"patience must be >= 1, got {self.patience}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")
        if not 0.0 <= self.warmup < 1.0 or self.lr <= 0 or self.head_lr <= 0:
            raise ConfigError("warmup must be in [0, 1) and the learning rates > 0")


@dataclass(frozen=True)
class FinetuneResult:
    """What a run did."""

    out_dir: Path  # the fine-tuned teacher folder (load it with Teacher(out_dir))
    labels: list[str]  # logit column order
    steps: int  # total optimiser steps done, counting resumed ones
    resumed_from: int | None  # step of the checkpoint the run continued from
    losses: list[float] = field(default_factory=list)  # loss of each step this run made
    history: list[dict[str, Any]] = field(default_factory=list)  # validated epochs, in order
    best_epoch: int | None = None  # epoch whose weights were kept (None: no validation set)
    stopped_early: bool = False  # patience ran out before ``epochs``


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (state.json present), oldest first."""
    found = []
    for path in root.glob("step-*"):
        match = _STEP_DIR.match(path.name)
        if match and (path / "state.json").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def _save_model(teacher: Teacher, folder: Path, labels: list[str]) -> None:
    """Encoder (safetensors + tokenizer) and the trained head into ``folder`` (no metadata)."""
    layout = FinetunedLayout(folder)
    teacher.model.save_pretrained(layout.encoder, safe_serialization=True)
    teacher.tokenizer.save_pretrained(layout.encoder)
    if teacher.tag_head is not None:
        save_tag_head(teacher.tag_head, folder, labels)
    else:
        assert teacher.head is not None
        save_head(teacher.head, layout, labels)


def _trained_head(teacher: Teacher) -> torch.nn.Module:
    head = teacher.tag_head if teacher.tag_head is not None else teacher.head
    assert head is not None, "the teacher has no head to train"
    return head


def _replace_dir(build: Path, final: Path) -> None:
    """Swap a finished folder into place (the old one is removed first)."""
    shutil.rmtree(final, ignore_errors=True)
    os.replace(build, final)


def _save_checkpoint(
    teacher: Teacher,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    root: Path,
    state: dict[str, Any],
    labels: list[str],
) -> Path:
    """Write ``root/step-N`` atomically (build under a temporary name, then rename)."""
    step = int(state["step"])
    tmp = root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_model(teacher, tmp, labels)
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
        tmp / "optimizer.pt",
    )
    torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({**state, "labels": labels}))
    final = root / f"step-{step:07d}"
    _replace_dir(tmp, final)
    return final


def _load_weights(teacher: Teacher, folder: Path) -> None:
    from safetensors.torch import load_file

    layout = FinetunedLayout(folder)
    weights = load_file(str(layout.encoder / "model.safetensors"))
    missing, unexpected = teacher.model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise DataError(f"checkpoint {folder} does not fit the teacher: {missing + unexpected}")
    if teacher.tag_head is not None:
        teacher.tag_head.linear.load_state_dict(load_file(str(folder / TAG_HEAD_FILE)))
    else:
        assert teacher.head is not None
        teacher.head.linear.load_state_dict(load_file(str(layout.head)))


def _load_checkpoint(
    teacher: Teacher,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    path: Path,
    labels: list[str],
) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((path / "state.json").read_text())
    if state["labels"] != labels:
        raise DataError(
            f"checkpoint {path} was trained on labels {state['labels']}, the data has {labels};"
            " use a new --out folder"
        )
    _load_weights(teacher, path)
    saved = torch.load(path / "optimizer.pt", weights_only=True)
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    torch.set_rng_state(torch.load(path / "rng.pt", weights_only=True)["torch"])
    return state


def _optimizer(teacher: Teacher, config: FinetuneConfig) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in teacher.model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    head = _trained_head(teacher)
    groups = [
        {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay},
        {"params": no_decay, "lr": config.lr, "weight_decay": 0.0},
        {"params": list(head.parameters()), "lr": config.head_lr, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups)


def _schedule(
    optimizer: torch.optim.Optimizer, total: int, warmup: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup * total`` steps, then linear decay to 0 at ``total``."""
    warm = max(1, round(warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total - step) / max(1, total - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def accuracy(teacher: Teacher, examples: Sequence[Example], labels: list[str]) -> float:
    """Share of ``examples`` (with a label in ``labels``) the teacher's head gets right."""
    index = {label: k for k, label in enumerate(labels)}
    known = [e for e in examples if e.label in index]
    if not known:
        raise DataError("no validation example has a label of the training set")
    order = sorted(range(len(known)), key=lambda i: len(known[i].text))  # less padding
    probs = teacher.predict_proba([known[i].text for i in order], batch_size=64)
    predicted: list[int] = probs.argmax(-1).tolist()
    return sum(predicted[j] == index[known[i].label] for j, i in enumerate(order)) / len(known)


def entity_f1(teacher: Teacher, examples: Sequence[Example]) -> float:
    """Exact-span entity F1 of the teacher's tag head on ``examples`` with gold entities."""
    from models.entity_eval import entity_report, scored_examples

    gold, texts, langs = scored_examples(examples)
    if not texts:
        raise DataError("no validation example has entities")
    return entity_report(gold, teacher_entities(teacher, texts), langs).f1


def _score(row: dict[str, Any]) -> float:
    return float(row["valid_entity_f1"] if "valid_entity_f1" in row else row["valid_accuracy"])


def finetune(
    data: Path,
    out: Path,
    config: FinetuneConfig,
    cache_dir: Path | None = None,
    progress: bool = True,
    valid: Path | Sequence[Example] | None = None,
) -> FinetuneResult:
    """Fine-tune ``config.teacher`` on the labeled file ``data``; write the teacher to ``out``.

    ``valid`` (a labeled file or examples) turns on per-epoch validation, early stopping and
    keeping the best epoch; without it the weights after the last step are kept.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # 1. Data and label set (sorted, so a reordered file gives the same columns); for tagging
    #    the examples with gold entities and the fixed BIO tag set.
    examples = load_examples(data)
    tagging = config.task == "tag"
    entities: list[list[Entity]] = []
    if tagging:
        pairs = [(e, example_entities(e)) for e in examples]
        examples = [e for e, ents in pairs if ents is not None]
        entities = [ents for _, ents in pairs if ents is not None]
    if not examples:
        what = "examples with entities" if tagging else "labeled examples"
        raise DataError(f"{data}: no {what}")
    valid_set = load_examples(valid) if isinstance(valid, str | Path) else valid
    if tagging:
        labels = list(TAGS)
        targets = torch.zeros(len(examples), dtype=torch.long)  # unused: tags come per token
    else:
        label_set = LabelSet.from_examples(examples)
        labels = list(label_set.names)
        targets = torch.tensor(label_set.ids(examples))  # (N,)
    texts = [e.text for e in examples]
    lengths = [len(t) for t in texts]
    steps_per_epoch = -(-len(texts) // config.batch_size)
    scheduled = config.epochs * steps_per_epoch
    total = min(config.max_steps, scheduled) if config.max_steps else scheduled

    # 2. Teacher with a fresh head; optionally freeze the word-embedding table.
    torch.manual_seed(config.seed)
    teacher = Teacher(config.teacher, max_length=config.max_length, cache_dir=cache_dir)
    if tagging:
        teacher.attach_tag_head(len(labels), dropout=config.dropout)
    else:
        teacher.attach_head(labels, dropout=config.dropout)
    if config.freeze_embeddings:
        teacher.model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = _optimizer(teacher, config)
    scheduler = _schedule(optimizer, scheduled, config.warmup)  # max_steps only truncates it

    # 3. Resume from the newest complete checkpoint, if any.
    root = Path(out)
    ckpt_root = root / "checkpoints"
    state: dict[str, Any] = {"step": 0, "history": [], "best": None, "bad_epochs": 0}
    existing = _checkpoints(ckpt_root)
    resumed_from = None
    if existing:
        state = _load_checkpoint(teacher, optimizer, scheduler, existing[-1][1], labels)
        state.pop("labels", None)
        resumed_from = int(state["step"])

    # 4. Train epoch by epoch; validate at each epoch end, keep the best, stop when patience
    #    runs out (the early-stopping state is part of every checkpoint).
    teacher.train()
    losses: list[float] = []
    columns = [
        TextColumn("[bold]finetune[/] {task.fields[teacher]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f} valid {task.fields[acc]}"),
        TimeRemainingColumn(),
    ]
    stopped = state["best"] is not None and state["bad_epochs"] >= config.patience
    epoch_rows: tuple[int, list[list[int]]] = (-1, [])
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("steps", total=total, completed=state["step"], acc="-",
                            teacher=config.teacher, loss=0.0)  # fmt: skip
        while state["step"] < total and not stopped:
            epoch, index = divmod(state["step"], steps_per_epoch)
            if epoch_rows[0] != epoch:
                epoch_rows = (epoch, epoch_batches(lengths, config.batch_size, config.seed, epoch))
            rows = epoch_rows[1][index]
            batch_texts = [texts[r] for r in rows]
            batch = teacher.tokenize(batch_texts)
            out_b = teacher(batch)
            if tagging:
                gold = gold_teacher_tags(batch, batch_texts, [entities[r] for r in rows])
                assert out_b.tag_logits is not None
                loss = torch.nn.functional.cross_entropy(
                    out_b.tag_logits.flatten(0, 1), gold.flatten(), ignore_index=IGNORE_TAG
                )
            else:
                assert out_b.logits is not None
                loss = torch.nn.functional.cross_entropy(out_b.logits, targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"]], max_norm=1.0
            )
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            state["step"] += 1
            bar.update(task, advance=1, loss=losses[-1])
            epoch_end = state["step"] % steps_per_epoch == 0
            if epoch_end and valid_set:
                if tagging:
                    key, score = "valid_entity_f1", entity_f1(teacher, valid_set)
                else:
                    key, score = "valid_accuracy", accuracy(teacher, valid_set, labels)
                teacher.train()
                state["history"].append({"epoch": epoch + 1, "step": state["step"],
                                         key: score})  # fmt: skip
                if state["best"] is None or score > _score(state["best"]):
                    state["best"], state["bad_epochs"] = state["history"][-1], 0
                    tmp = root / f".tmp-best-{os.getpid()}"
                    shutil.rmtree(tmp, ignore_errors=True)
                    _save_model(teacher, tmp, labels)
                    _replace_dir(tmp, root / "best")
                else:
                    state["bad_epochs"] += 1
                stopped = state["bad_epochs"] >= config.patience
                bar.update(task, acc=f"{score:.4f}")
            if epoch_end or state["step"] % config.checkpoint_every == 0 or state["step"] == total:
                _save_checkpoint(teacher, optimizer, scheduler, ckpt_root, state, labels)
                for _, old in _checkpoints(ckpt_root)[: -config.keep_checkpoints]:
                    shutil.rmtree(old, ignore_errors=True)
    teacher.eval()

    # 5. The fine-tuned teacher itself (the best validated epoch, else the last step);
    #    teacher.json last marks it complete.
    if state["best"] is not None:
        _load_weights(teacher, root / "best")
    layout = FinetunedLayout(root)
    if layout.meta.exists():
        layout.meta.unlink()
    _save_model(teacher, layout.root, labels)
    (root / "history.json").write_text(json.dumps(state["history"], indent=1))
    write_meta(layout, teacher.text_prefix, config.teacher)
    best_epoch = state["best"]["epoch"] if state["best"] else None
    return FinetuneResult(root, labels, int(state["step"]), resumed_from, losses,
                          list(state["history"]), best_epoch, stopped)  # fmt: skip
