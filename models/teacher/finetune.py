"""Adapt the teacher to the domain before distilling: a pooled encoder + linear head trained
with cross-entropy on labelled texts, with resumable checkpoints.

Output folder (see ``models.teacher.classifier``)::

    out/teacher.json, labels.json, head.safetensors, encoder/   the fine-tuned teacher
    out/checkpoints/step-0000040/                               the last few checkpoints:
        encoder/ head.safetensors labels.json                   weights (safetensors)
        optimizer.pt rng.pt state.json                          optimiser, RNG, step (last)

A run that finds a checkpoint in ``out/checkpoints`` continues from the newest one: same data
order, same optimiser state, same dropout RNG, so an interrupted run ends where an
uninterrupted one would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import torch

from models.data.loaders import load_examples
from models.data.record import LabelSet
from models.errors import ConfigError, DataError
from models.teacher.classifier import FinetunedLayout, save_head, write_meta
from models.teacher.encoder import Teacher

_STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of one fine-tuning run."""

    teacher: str = "e5-small"  # shipped name (e5-small, minilm) or a checkpoint folder
    epochs: int = 3  # passes over the data (ignored when max_steps is set)
    max_steps: int | None = None  # stop after this many optimiser steps in total
    batch_size: int = 16  # texts per step
    lr: float = 3e-5  # AdamW learning rate of the encoder
    head_lr: float = 1e-3  # AdamW learning rate of the freshly initialised head
    weight_decay: float = 0.01  # AdamW decoupled weight decay (not on biases/LayerNorm)
    max_length: int = 128  # tokens per text, after the text prefix
    dropout: float = 0.1  # head dropout (the encoder keeps its own)
    freeze_embeddings: bool = True  # e5's 96M-row word table: frozen, no optimiser state
    checkpoint_every: int = 50  # steps between checkpoints (and one at the end)
    keep_checkpoints: int = 2  # newest checkpoints kept on disk
    seed: int = 0  # data order, head init and dropout

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1:
            raise ConfigError("epochs, batch_size and checkpoint_every must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None, got {self.max_steps}")
        if self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1, got {self.keep_checkpoints}")


@dataclass(frozen=True)
class FinetuneResult:
    """What a run did."""

    out_dir: Path  # the fine-tuned teacher folder (load it with Teacher(out_dir))
    labels: list[str]  # logit column order
    steps: int  # total optimiser steps done, counting resumed ones
    resumed_from: int | None  # step of the checkpoint the run continued from
    losses: list[float] = field(default_factory=list)  # loss of each step this run made


def _checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints (state.json present), oldest first."""
    found = []
    for path in root.glob("step-*"):
        match = _STEP_DIR.match(path.name)
        if match and (path / "state.json").is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def _save_model(teacher: Teacher, folder: Path, labels: list[str]) -> None:
    """Encoder (safetensors + tokenizer) and head into ``folder`` (no metadata)."""
    layout = FinetunedLayout(folder)
    teacher.model.save_pretrained(layout.encoder, safe_serialization=True)
    teacher.tokenizer.save_pretrained(layout.encoder)
    assert teacher.head is not None
    save_head(teacher.head, layout, labels)


def _save_checkpoint(
    teacher: Teacher, optimizer: torch.optim.Optimizer, root: Path, step: int, labels: list[str]
) -> Path:
    """Write ``root/step-N`` atomically (build under a temporary name, then rename)."""
    final = root / f"step-{step:07d}"
    tmp = root / f".tmp-step-{step:07d}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _save_model(teacher, tmp, labels)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save({"torch": torch.get_rng_state()}, tmp / "rng.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "labels": labels}))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def _load_checkpoint(
    teacher: Teacher, optimizer: torch.optim.Optimizer, path: Path, labels: list[str]
) -> int:
    from safetensors.torch import load_file

    state = json.loads((path / "state.json").read_text())
    if state["labels"] != labels:
        raise DataError(
            f"checkpoint {path} was trained on labels {state['labels']}, the data has {labels};"
            " use a new --out folder"
        )
    layout = FinetunedLayout(path)
    weights = load_file(str(layout.encoder / "model.safetensors"))
    missing, unexpected = teacher.model.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("pooler.") for k in missing):
        raise DataError(f"checkpoint {path} does not fit the teacher: {missing + unexpected}")
    assert teacher.head is not None
    teacher.head.linear.load_state_dict(load_file(str(layout.head)))
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
    torch.set_rng_state(torch.load(path / "rng.pt", weights_only=True)["torch"])
    return int(state["step"])


def _optimizer(teacher: Teacher, config: FinetuneConfig) -> torch.optim.Optimizer:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in teacher.model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    assert teacher.head is not None
    groups = [
        {"params": decay, "lr": config.lr, "weight_decay": config.weight_decay},
        {"params": no_decay, "lr": config.lr, "weight_decay": 0.0},
        {"params": list(teacher.head.parameters()), "lr": config.head_lr, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups)


def finetune(
    data: Path,
    out: Path,
    config: FinetuneConfig,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune ``config.teacher`` on the labelled file ``data``; write the teacher to ``out``."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    # 1. Data and label set (sorted, so a reordered file gives the same columns).
    examples = load_examples(data)
    if not examples:
        raise DataError(f"{data}: no labelled examples")
    label_set = LabelSet.from_examples(examples)
    labels = list(label_set.names)
    texts = [e.text for e in examples]
    targets = torch.tensor(label_set.ids(examples))  # (N,)
    steps_per_epoch = -(-len(texts) // config.batch_size)
    total = config.max_steps or config.epochs * steps_per_epoch

    # 2. Teacher with a fresh head; optionally freeze the word-embedding table.
    torch.manual_seed(config.seed)
    teacher = Teacher(config.teacher, max_length=config.max_length, cache_dir=cache_dir)
    teacher.attach_head(labels, dropout=config.dropout)
    if config.freeze_embeddings:
        teacher.model.get_input_embeddings().weight.requires_grad_(False)
    optimizer = _optimizer(teacher, config)

    # 3. Resume from the newest complete checkpoint, if any.
    ckpt_root = Path(out) / "checkpoints"
    existing = _checkpoints(ckpt_root)
    resumed_from = None
    start = 0
    if existing:
        start = resumed_from = _load_checkpoint(teacher, optimizer, existing[-1][1], labels)

    # 4. Train: step s uses batch (s % steps_per_epoch) of epoch (s // steps_per_epoch)'s order.
    teacher.train()
    losses: list[float] = []
    columns = [
        TextColumn("[bold]finetune[/] {task.fields[teacher]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("steps", total=total, completed=start, teacher=config.teacher, loss=0.0)
        for step in range(start, total):
            epoch, index = divmod(step, steps_per_epoch)
            order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(
                config.seed * 100_003 + epoch
            ))  # fmt: skip
            rows = order[index * config.batch_size : (index + 1) * config.batch_size].tolist()
            out_b = teacher(teacher.tokenize([texts[r] for r in rows]))
            assert out_b.logits is not None
            loss = torch.nn.functional.cross_entropy(out_b.logits, targets[rows])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for g in optimizer.param_groups for p in g["params"]], max_norm=1.0
            )
            optimizer.step()
            losses.append(loss.item())
            bar.update(task, advance=1, loss=losses[-1])
            done = step + 1
            if done % config.checkpoint_every == 0 or done == total:
                _save_checkpoint(teacher, optimizer, ckpt_root, done, labels)
                for _, old in _checkpoints(ckpt_root)[: -config.keep_checkpoints]:
                    shutil.rmtree(old, ignore_errors=True)
    teacher.eval()

    # 5. The fine-tuned teacher itself; teacher.json last marks it complete.
    layout = FinetunedLayout(Path(out))
    if layout.meta.exists():
        layout.meta.unlink()
    _save_model(teacher, layout.root, labels)
    write_meta(layout, teacher.text_prefix, config.teacher)
    return FinetuneResult(Path(out), labels, max(total, start), resumed_from, losses)
