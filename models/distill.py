"""Staged distillation of a teacher into the TinyLSTM student.

The seed's recipe, in three stages that each get a fresh AdamW with a cosine schedule and
gradient clipping at 1.0:

1. ``hard``   - cross-entropy on the gold labels only (initialisation);
2. ``output`` - adds the soft KD term on the teacher's logits; teacher-labeled transfer texts
   (augmented or unlabeled, ``label = -1``) join the training set here;
3. ``full``   - adds the hidden-state MSE through the adapter and, when the student pools by
   attention and the teacher gives attention maps, the attention-transfer KL.

Batches hold texts of similar length (``models.batching.epoch_batches``); each stage warms its
learning rate up over its first ``warmup`` share of steps, then decays it on a cosine. The best
weights by validation macro-F1 over all epochs are kept. A checkpoint at every epoch boundary
makes the run resumable; teacher outputs are cached on disk (models/kd_targets.py): the logits
of every text always (all output distillation needs), the aligned hidden states and attention
only when the ``full`` stage uses them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from safetensors.torch import save_file

from models.adapter import Adapter, AdapterConfig
from models.batching import epoch_batches, pad_ids
from models.checkpoint import load_checkpoint, save_checkpoint
from models.errors import ConfigError, DataError, ModelsError
from models.evaluate import LabeledText, compute_metrics, predict_proba_ids
from models.footprint import fit_to_slot
from models.kd_targets import KDTargets, TargetTeacher, cached_logits, cached_targets
from models.losses import IGNORE_LABEL, LossConfig, hybrid_loss
from models.student import StudentConfig, TinyLSTM, save_student
from models.tag_targets import TagTeacher
from models.tagging import TagLossConfig, TagTraining, selection_score
from models.tokenizer import Tokenizer

STAGES = ("hard", "output", "full")
CHECKPOINT_FILE = "distill_checkpoint.pt"
LOG_FILE = "distill_log.jsonl"


@dataclass(frozen=True)
class DistillConfig:
    stage_epochs: tuple[int, int, int] = (3, 3, 3)  # epochs of the hard, output, full stages
    batch_size: int = 64  # examples per optimizer step
    lr: float = 3e-3  # peak AdamW learning rate of every stage
    warmup: float = 0.1  # share of a stage's steps spent warming up, then cosine decay to 0
    weight_decay: float = 0.01  # AdamW decoupled weight decay
    grad_clip: float = 1.0  # max global gradient norm
    seed: int = 0  # seeds initialisation, shuffling and dropout
    loss: LossConfig = field(default_factory=LossConfig)  # term weights and temperature
    max_steps_per_stage: int | None = None  # cap on optimizer steps per stage (smoke runs)
    tag_loss: TagLossConfig = field(default_factory=TagLossConfig)  # entity tagger, if any

    def __post_init__(self) -> None:
        if len(self.stage_epochs) != 3 or min(self.stage_epochs) < 0:
            raise ConfigError(f"stage_epochs must be 3 counts >= 0, got {self.stage_epochs}")
        if self.batch_size < 1 or self.lr <= 0 or self.grad_clip <= 0:
            raise ConfigError("batch_size must be >= 1, lr and grad_clip > 0")
        if not 0.0 <= self.warmup < 1.0:
            raise ConfigError(f"warmup must be in [0, 1), got {self.warmup}")

    @property
    def uses_states(self) -> bool:
        """Whether the ``full`` stage needs the teacher's hidden states or attention."""
        return self.stage_epochs[2] > 0 and (
            self.loss.hidden_weight > 0 or self.loss.attention_weight > 0
        )


@dataclass
class DistillResult:
    model: TinyLSTM  # best weights, eval mode
    adapter: Adapter | None
    labels: list[str]
    best: dict[str, Any]  # stage, epoch and validation metrics of the kept weights
    history: list[dict[str, Any]]
    seconds: float
    teacher_cache_hit: bool


def distill(
    train: Sequence[LabeledText],
    valid: Sequence[LabeledText],
    out_dir: str | Path,
    *,
    teacher: TargetTeacher | None,
    tokenizer: Tokenizer,
    transfer_texts: Sequence[str] = (),
    config: DistillConfig = DistillConfig(),  # frozen, so a shared default is safe
    student: StudentConfig | None = None,
    labels: Sequence[str] | None = None,
    cache_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = False,
    tag_teacher: TagTeacher | None = None,
) -> DistillResult:
    """Distill ``teacher`` into a student trained on ``train`` (+ ``transfer_texts``).

    A student with an entity tagger (``num_tags > 0``) also learns the gold tags of ``train``
    (CRF) and, from the output stage on, ``tag_teacher``'s per-token tags (models/tagging.py).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    needs_teacher = config.stage_epochs[1] + config.stage_epochs[2] > 0
    if needs_teacher and teacher is None:
        raise ConfigError("the output and full stages need a teacher (or set their epochs to 0)")

    # 1. Labels, token ids, and teacher targets for labeled + transfer texts.
    labels = list(labels) if labels is not None else sorted({ex.label for ex in train})
    index = {label: k for k, label in enumerate(labels)}
    if not train:
        raise DataError("the training set is empty")
    unknown = sorted({ex.label for ex in train} - set(index))
    if unknown:
        raise DataError(f"training labels not in the label list: {unknown[:10]}")
    valid_known = [ex for ex in valid if ex.label in index]
    if not valid_known:
        raise DataError("the validation set has no example with a known label")
    texts = [ex.text for ex in train] + list(transfer_texts)
    ids = [tokenizer.encode(t) for t in texts]
    gold = torch.tensor(
        [index[ex.label] for ex in train] + [IGNORE_LABEL] * len(transfer_texts)
    )  # [N]
    valid_ids = [tokenizer.encode(ex.text) for ex in valid_known]
    valid_y = torch.tensor([index[ex.label] for ex in valid_known])
    token_counts = [len(x) for x in ids]
    teacher_logits: torch.Tensor | None = None  # [N, C]
    targets: KDTargets | None = None  # hidden states and attention, for the full stage only
    cache_hit = False
    if needs_teacher:
        assert teacher is not None
        teacher_logits, cache_hit = cached_logits(teacher, texts, cache_dir)
        if teacher_logits.shape[1] != len(labels):
            raise ConfigError(
                f"teacher gives {teacher_logits.shape[1]} classes, the student has {len(labels)}:"
                " fine-tune the teacher on this label set first (fleet teacher finetune)"
            )
        if config.uses_states:
            targets, _ = cached_targets(teacher, tokenizer, texts, cache_dir)

    # 2. Student, adapter, RNGs; state restored from the checkpoint when resuming.
    student = student or fit_to_slot(StudentConfig(num_labels=len(labels)), labels)
    if student.num_labels != len(labels):
        raise ConfigError(f"student num_labels={student.num_labels} but {len(labels)} labels")
    tagging = None
    if student.num_tags:
        tagging = TagTraining.build(config.tag_loss, train, transfer_texts, tokenizer,
                                    tag_teacher if needs_teacher else None, cache_dir)  # fmt: skip
    torch.manual_seed(config.seed)
    model = TinyLSTM(student)
    # (built whenever there is a teacher, so a run extended by --resume draws the same RNG)
    adapter = (
        Adapter(AdapterConfig(teacher.hidden_size, 2 * student.hidden))
        if teacher is not None
        else None
    )
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    state: dict[str, Any] = {
        "stage": 0,
        "epoch": 0,
        "best": None,
        "best_state": None,
        "history": [],
        "optimizer": None,
        "scheduler": None,
    }
    if resume:
        state = _restore(out / CHECKPOINT_FILE, model, adapter, shuffle_gen, config, labels)
    use_attention = (
        targets is not None
        and targets.has_attention
        and student.pooling == "attention"
        and config.loss.attention_weight > 0
    )

    # 3. Stages in order; each epoch: shuffle, step, validate, keep the best, checkpoint.
    started = time.perf_counter()
    bar = Progress(
        TextColumn("[bold]{task.fields[stage]} {task.fields[epoch]}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.4f}  valid F1 {task.fields[f1]:.3f}"),
        TimeElapsedColumn(),
        disable=not progress,
    )
    with bar:
        task = bar.add_task("distill", total=1, stage="", epoch=0, loss=0.0, f1=0.0)
        while state["stage"] < len(STAGES):
            stage_idx = state["stage"]
            stage = STAGES[stage_idx]
            epochs = config.stage_epochs[stage_idx]
            n_rows = len(train) if stage == "hard" else len(texts)
            n_batches = math.ceil(n_rows / config.batch_size)
            if config.max_steps_per_stage is not None:
                n_batches = min(n_batches, config.max_steps_per_stage)
            # 3a. A fresh optimizer and warm-up + cosine schedule per stage (the adapter joins
            #     in "full").
            params = list(model.parameters())
            if stage == "full" and adapter is not None:
                params += list(adapter.parameters())
            optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
            scheduler = _warmup_cosine(optimizer, epochs * n_batches, config.warmup)
            if state["optimizer"] is not None:
                optimizer.load_state_dict(state["optimizer"])
                scheduler.load_state_dict(state["scheduler"])
            while state["epoch"] < epochs:
                epoch = state["epoch"] + 1
                # (reset replaces every field, so loss and f1 are given again)
                best_f1 = state["best"]["valid_macro_f1"] if state["best"] else 0.0
                bar.reset(task, total=n_batches, stage=stage, epoch=epoch, loss=0.0, f1=best_f1)
                model.train()
                if adapter is not None:
                    adapter.train()
                epoch_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=shuffle_gen))
                batches = epoch_batches(token_counts[:n_rows], config.batch_size, epoch_seed, 0)
                loss_sum, seen = 0.0, 0
                for batch in batches[:n_batches]:
                    # 3b. Forward the student; gather the teacher targets this stage uses.
                    x, lengths = pad_ids([ids[r] for r in batch])  # [B, W], [B]
                    out_s = model.features(x, lengths)
                    kwargs: dict[str, Any] = {}
                    if stage != "hard":
                        assert teacher_logits is not None
                        kwargs["teacher_logits"] = teacher_logits[batch]
                        if stage == "full" and adapter is not None and targets is not None:
                            _, t_hidden, t_attn, t_mask = targets.batch(batch, x.shape[1])
                            if config.loss.hidden_weight > 0:
                                kwargs["student_hidden"] = out_s.lstm_out
                                kwargs["teacher_hidden"] = adapter(t_hidden)  # [B, W, 2H]
                            kwargs["hidden_mask"] = t_mask
                            if use_attention:
                                kwargs["student_attention"] = out_s.attn_weights
                                kwargs["teacher_attention"] = t_attn
                    else:
                        kwargs["teacher_logits"] = None
                    # 3c. Mix the loss terms (models/losses.py), backward, clip, step.
                    parts = hybrid_loss(config.loss, out_s.logits, labels=gold[batch], **kwargs)
                    loss = parts.total
                    if tagging is not None:
                        loss = loss + tagging.loss(
                            model, out_s.emissions, lengths, batch, stage != "hard"
                        )
                    if not torch.isfinite(loss):
                        raise ModelsError(f"distillation diverged in stage {stage}: {parts}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                    optimizer.step()
                    scheduler.step()
                    loss_sum += loss.item() * len(batch)
                    seen += len(batch)
                    bar.update(task, advance=1, loss=loss_sum / seen)
                # 3d. Validate and keep the best weights over all stages.
                report = compute_metrics(
                    valid_y.numpy(), predict_proba_ids(model, valid_ids), labels
                )
                row = {
                    "stage": stage,
                    "epoch": epoch,
                    "train_loss": loss_sum / max(seen, 1),
                    "valid_accuracy": report.accuracy,
                    "valid_macro_f1": report.macro_f1,
                    "seconds": round(time.perf_counter() - started, 3),
                }
                if tagging is not None:  # picked on both tasks (models/tagging.py)
                    row.update(tagging.validate(model, tokenizer, valid_known, report.macro_f1))
                state["history"].append(row)
                if state["best"] is None or selection_score(row) > selection_score(state["best"]):
                    state["best"] = row
                    state["best_state"] = {
                        k: v.detach().clone() for k, v in model.state_dict().items()
                    }
                bar.update(task, f1=state["best"]["valid_macro_f1"])
                with (out / LOG_FILE).open("a", encoding="utf-8") as log:
                    log.write(json.dumps(row) + "\n")
                state["epoch"] = epoch
                state["optimizer"] = optimizer.state_dict()
                state["scheduler"] = scheduler.state_dict()
                _save_checkpoint(
                    out / CHECKPOINT_FILE, model, adapter, shuffle_gen, config, labels, state
                )
            state.update(stage=stage_idx + 1, epoch=0, optimizer=None, scheduler=None)

    # 4. Restore the best weights; save the student, the adapter and the metrics.
    seconds = time.perf_counter() - started
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    model.eval()
    save_student(model, labels, out)
    if adapter is not None and config.stage_epochs[2] > 0:
        save_file(adapter.state_dict(), str(out / "adapter.safetensors"))
    metrics = {
        "best": state["best"],
        "distill_config": _config_dict(config),
        "student_config": asdict(student),
        "teacher": getattr(teacher, "teacher_id", None),
        "num_train": len(train),
        "num_transfer": len(transfer_texts),
        "attention_transfer": use_attention,
        "train_seconds": round(seconds, 3),
        "teacher_cache_hit": cache_hit,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, ensure_ascii=False, indent=2) + "\n")
    return DistillResult(
        model, adapter, labels, state["best"] or {}, state["history"], seconds, cache_hit
    )


def _warmup_cosine(
    optimizer: torch.optim.Optimizer, total: int, warmup: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup * total`` steps, then cosine decay to 0 at ``total``."""
    warm = max(1, round(warmup * total)) if warmup > 0 else 0

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _config_dict(config: DistillConfig) -> dict[str, Any]:
    d = asdict(config)
    d["stage_epochs"] = list(config.stage_epochs)
    return d


def _save_checkpoint(
    path: Path,
    model: TinyLSTM,
    adapter: Adapter | None,
    shuffle_gen: torch.Generator,
    config: DistillConfig,
    labels: Sequence[str],
    state: dict[str, Any],
) -> None:
    payload = {
        "model": model.state_dict(),
        "adapter": adapter.state_dict() if adapter is not None else None,
        "torch_rng": torch.get_rng_state(),
        "shuffle_rng": shuffle_gen.get_state(),
        "config": _config_dict(config),
        "labels": list(labels),
        "state": state,
    }
    save_checkpoint(path, payload)


def _restore(
    path: Path,
    model: TinyLSTM,
    adapter: Adapter | None,
    shuffle_gen: torch.Generator,
    config: DistillConfig,
    labels: Sequence[str],
) -> dict[str, Any]:
    payload = load_checkpoint(path)
    saved = dict(payload["config"])
    now = _config_dict(config)
    changed = [k for k in now if k not in ("stage_epochs",) and saved.get(k) != now[k]]
    if changed or payload["labels"] != list(labels):
        raise ConfigError(f"--resume with a different {', '.join(changed) or 'label set'}")
    model.load_state_dict(payload["model"])
    if adapter is not None and payload["adapter"] is not None:
        adapter.load_state_dict(payload["adapter"])
    torch.set_rng_state(payload["torch_rng"])
    shuffle_gen.set_state(payload["shuffle_rng"])
    state: dict[str, Any] = payload["state"]
    return state
