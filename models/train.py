"""Stage-1 training of the TinyLSTM student on hard labels.

AdamW, gradient clipping, early stopping on validation macro-F1, and a resumable checkpoint
(``checkpoint.pt``) written at the end of every epoch with everything needed to continue as if
never interrupted: model, optimizer, epoch, best weights and metric, patience counter, history
and both RNG states (the global torch RNG that dropout draws from and the shuffling generator).
On the CPU the run is deterministic for a given seed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from models.batching import Encoder, pad_ids
from models.checkpoint import load_checkpoint, save_checkpoint
from models.data.spans import SpanTokenizer
from models.errors import ConfigError, DataError, ModelsError
from models.evaluate import EvalReport, LabeledText, compute_metrics, predict_proba_ids
from models.footprint import fit_to_slot
from models.student import StudentConfig, TinyLSTM, save_student
from models.tagging import TagLossConfig, TagTraining, selection_score

CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"
LOG_FILE = "train_log.jsonl"


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 10  # passes over the training set at most
    batch_size: int = 64  # examples per optimizer step
    lr: float = 2e-3  # AdamW learning rate
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    patience: int = 3  # epochs without a better validation macro-F1 before stopping
    seed: int = 0  # seeds initialisation, shuffling and dropout
    max_steps: int | None = None  # stop after this many optimizer steps in total (smoke runs)
    grad_clip: float = 1.0  # max global gradient norm

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip <= 0:
            raise ConfigError("lr and grad_clip must be > 0 and weight_decay >= 0")
        if self.max_steps is not None and self.max_steps < 1:
            raise ConfigError(f"max_steps must be >= 1 or None, got {self.max_steps}")


# Fields that must match for --resume to continue the same run.
_RESUME_KEYS = ("batch_size", "lr", "weight_decay", "seed", "grad_clip")


@dataclass
class TrainResult:
    model: TinyLSTM  # best weights (by validation macro-F1), eval mode
    labels: list[str]
    best_epoch: int
    valid: EvalReport  # the best model on the validation set
    epochs_run: int
    steps: int
    seconds: float  # wall-clock training time of this call (excluding a resumed prefix)
    history: list[dict[str, Any]] = field(default_factory=list)


def label_list(examples: Sequence[LabeledText]) -> list[str]:
    """The sorted distinct labels of ``examples`` (class id = position)."""
    return sorted({ex.label for ex in examples})


def _encode(
    tokenizer: Encoder, examples: Sequence[LabeledText], index: dict[str, int]
) -> tuple[list[list[int]], torch.Tensor]:
    ids = [tokenizer.encode(ex.text) for ex in examples]
    targets = torch.tensor([index[ex.label] for ex in examples], dtype=torch.long)  # [N]
    return ids, targets


def _validate(
    model: TinyLSTM, ids: list[list[int]], targets: torch.Tensor, labels: list[str]
) -> EvalReport:
    probs = predict_proba_ids(model, ids)
    return compute_metrics(targets.numpy(), probs, labels)


def train_student(
    train: Sequence[LabeledText],
    valid: Sequence[LabeledText],
    out_dir: str | Path,
    *,
    tokenizer: Encoder,
    config: TrainConfig = TrainConfig(),  # frozen, so a shared default is safe
    student: StudentConfig | None = None,
    labels: Sequence[str] | None = None,
    resume: bool = False,
    progress: bool = False,
) -> TrainResult:
    """Train a student on ``train``, early-stop on ``valid``, save the best model in ``out_dir``.

    ``labels`` defaults to the sorted labels of ``train``; validation examples with other labels
    are dropped (and counted in the log). ``student`` defaults to ``StudentConfig`` with
    ``num_labels=len(labels)``. With ``resume`` the run continues from ``out_dir/checkpoint.pt``
    at the next epoch boundary (``config.epochs`` may be larger than the first run's).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    # 1. Labels and tokenized data (tokenized once; batches are padded on the fly).
    labels = list(labels) if labels is not None else label_list(train)
    if not train or not labels:
        raise DataError("the training set is empty")
    index = {label: k for k, label in enumerate(labels)}
    unknown_train = sorted({ex.label for ex in train} - set(index))
    if unknown_train:
        raise DataError(f"training labels not in the label list: {unknown_train[:10]}")
    valid_known = [ex for ex in valid if ex.label in index]
    if not valid_known:
        raise DataError("the validation set has no example with a known label")
    train_ids, train_y = _encode(tokenizer, train, index)
    valid_ids, valid_y = _encode(tokenizer, valid_known, index)
    student = student or fit_to_slot(StudentConfig(num_labels=len(labels)), labels)
    if student.num_labels != len(labels):
        raise ConfigError(f"student num_labels={student.num_labels} but {len(labels)} labels")
    # An entity tagger (num_tags > 0) learns the gold tags of ``train`` (CRF, models/tagging.py).
    tagging = None
    if student.num_tags:
        assert isinstance(tokenizer, SpanTokenizer), "tagging needs token spans"
        tagging = TagTraining.build(TagLossConfig(), train, (), tokenizer)

    # 2. Model, optimizer and RNGs: fresh from the seed, or restored from the checkpoint.
    torch.manual_seed(config.seed)
    model = TinyLSTM(student)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    state: dict[str, Any] = {
        "epoch": 0,  # completed epochs
        "steps": 0,
        "best_f1": -1.0,
        "best_epoch": 0,
        "best_state": None,
        "bad_epochs": 0,
        "history": [],
    }
    if resume:
        state = _restore(
            out / CHECKPOINT_FILE, model, optimizer, shuffle_gen, config, student, labels
        )

    # 3. Epochs: shuffle, step through batches, validate, keep the best, check patience.
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  valid F1 {task.fields[f1]:.3f}"),
        TimeElapsedColumn(),
        disable=not progress,
    )
    n_batches = (len(train_ids) + config.batch_size - 1) // config.batch_size
    with bar:
        task = bar.add_task(
            "train", total=n_batches, epoch=0, loss=0.0, f1=max(state["best_f1"], 0)
        )
        while state["epoch"] < config.epochs and state["bad_epochs"] < config.patience:
            if config.max_steps is not None and state["steps"] >= config.max_steps:
                break
            epoch = state["epoch"] + 1
            bar.reset(task, total=n_batches, epoch=epoch, loss=0.0, f1=max(state["best_f1"], 0.0))
            model.train()
            order = torch.randperm(len(train_ids), generator=shuffle_gen)  # [N]
            loss_sum, seen = 0.0, 0
            for start in range(0, len(order), config.batch_size):
                # 3a. Pad the batch, forward, cross-entropy on the hard labels.
                rows = order[start : start + config.batch_size].tolist()
                ids, lengths = pad_ids([train_ids[r] for r in rows])  # [b, Tmax], [b]
                targets = train_y[rows]  # [b]
                out_s = model.features(ids, lengths)
                loss = F.cross_entropy(out_s.logits, targets)
                if tagging is not None:
                    loss = loss + tagging.loss(model, out_s.emissions, lengths, rows, False)
                if not torch.isfinite(loss):
                    raise ModelsError(
                        f"training diverged: loss {loss.item()} at step {state['steps']}"
                    )
                # 3b. Backward, clip, step.
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                state["steps"] += 1
                loss_sum += loss.item() * len(rows)
                seen += len(rows)
                bar.update(task, advance=1, loss=loss_sum / seen)
                if config.max_steps is not None and state["steps"] >= config.max_steps:
                    break

            # 3c. Validate; remember the best weights; count epochs without improvement.
            report = _validate(model, valid_ids, valid_y, labels)
            tag_row = {}
            if tagging is not None:  # picked on both tasks (models/tagging.py)
                assert isinstance(tokenizer, SpanTokenizer)
                tag_row = tagging.validate(model, tokenizer, valid_known, report.macro_f1)
            score = selection_score({"valid_macro_f1": report.macro_f1, **tag_row})
            improved = score > state["best_f1"]
            if improved:
                state["best_f1"] = score
                state["best_epoch"] = epoch
                state["best_state"] = {k: v.detach().clone() for k, v in model.state_dict().items()}
                state["bad_epochs"] = 0
            else:
                state["bad_epochs"] += 1
            state["epoch"] = epoch
            row = {
                "epoch": epoch,
                "steps": state["steps"],
                "train_loss": loss_sum / max(seen, 1),
                "valid_accuracy": report.accuracy,
                "valid_macro_f1": report.macro_f1,
                **tag_row,
                "improved": improved,
                "seconds": round(time.perf_counter() - started, 3),
            }
            state["history"].append(row)
            bar.update(task, f1=state["best_f1"])
            with (out / LOG_FILE).open("a", encoding="utf-8") as log:
                log.write(json.dumps(row) + "\n")

            # 3d. Checkpoint at the epoch boundary (atomic replace).
            _save_checkpoint(
                out / CHECKPOINT_FILE, model, optimizer, shuffle_gen, config, student, labels, state
            )

    # 4. Restore the best weights, save the student and its metrics.
    seconds = time.perf_counter() - started
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    best_report = _validate(model, valid_ids, valid_y, labels)
    save_student(model, labels, out)
    result = TrainResult(
        model=model,
        labels=labels,
        best_epoch=state["best_epoch"],
        valid=best_report,
        epochs_run=state["epoch"],
        steps=state["steps"],
        seconds=seconds,
        history=list(state["history"]),
    )
    metrics = {
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "steps": result.steps,
        "train_seconds": round(seconds, 3),
        "num_train": len(train),
        "num_valid": len(valid_known),
        "valid_dropped_unknown_label": len(valid) - len(valid_known),
        "train_config": asdict(config),
        "student_config": asdict(student),
        "valid": best_report.to_dict(),
    }
    (out / METRICS_FILE).write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    return result


def _save_checkpoint(
    path: Path,
    model: TinyLSTM,
    optimizer: torch.optim.Optimizer,
    shuffle_gen: torch.Generator,
    config: TrainConfig,
    student: StudentConfig,
    labels: Sequence[str],
    state: dict[str, Any],
) -> None:
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "shuffle_rng": shuffle_gen.get_state(),
        "train_config": asdict(config),
        "student_config": asdict(student),
        "labels": list(labels),
        "state": state,
    }
    save_checkpoint(path, payload)


def _restore(
    path: Path,
    model: TinyLSTM,
    optimizer: torch.optim.Optimizer,
    shuffle_gen: torch.Generator,
    config: TrainConfig,
    student: StudentConfig,
    labels: Sequence[str],
) -> dict[str, Any]:
    payload = load_checkpoint(path)
    saved = payload["train_config"]
    changed = [k for k in _RESUME_KEYS if saved.get(k) != getattr(config, k)]
    if changed:
        raise ConfigError(f"--resume with different {', '.join(changed)} than the checkpoint")
    if payload["student_config"] != asdict(student) or payload["labels"] != list(labels):
        raise ConfigError("--resume with a different student config or label set")
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    torch.set_rng_state(payload["torch_rng"])
    shuffle_gen.set_state(payload["shuffle_rng"])
    state: dict[str, Any] = payload["state"]
    return state
