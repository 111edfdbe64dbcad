"""Continue training the released student on new teacher soft labels mixed with replay data.

Each batch mixes two kinds of rows: new samples, whose loss is the seed's KD mix on the
teacher's probabilities (``models.losses.hybrid_loss``: alpha * KL at temperature T + (1 -
alpha) * cross-entropy on the teacher's argmax), and replay rows of the old distribution with
their gold label (cross-entropy only), which keeps the student from forgetting what it knew.
The loss is the row-weighted mean of the two. Labels the teacher knows and the student does
not (a class that appeared with the drift) get new head rows first (:func:`extend_labels`).

A student with an entity tagger keeps it: the teacher's labels say nothing about entities, so
the released student's own per-token emissions (a frozen copy) are the target of an emission
KL term on every row (``tag_weight``, temperature 1), while the BiLSTM under the tagging head
moves (``models.tagging.emission_kd``).

Learning without Forgetting (Li & Hoiem 2016) is an option (``lwf_weight`` > 0): on every
teacher-labeled row the candidate is also distilled towards the current release's own
softened outputs, over the labels the current release knows (KL at the KD temperature,
times ``lwf_weight``), which holds on to the old behaviour without any old data.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch

from contract.limits import SLOT_BYTES
from models.batching import pad_ids
from models.errors import ConfigError, ModelsError
from models.footprint import blob_bytes
from models.losses import LossConfig, hard_ce, hybrid_loss, soft_kd
from models.student import StudentConfig, TinyLSTM
from models.tagging import emission_kd

PROB_FLOOR = 1e-6  # teacher probabilities are floored before the log (a zero is -inf)


@dataclass(frozen=True)
class FinetuneConfig:
    max_steps: int = 300  # optimizer steps
    batch_size: int = 32  # rows per step (new + replay)
    lr: float = 1e-3  # AdamW, constant
    weight_decay: float = 0.01
    grad_clip: float = 1.0  # max global gradient norm
    alpha: float = 0.7  # soft KD weight
    temperature: float = 3.0  # KD temperature
    lwf_weight: float = 0.0  # Learning without Forgetting: weight of the previous release's KL
    seed: int = 0  # shuffling and new head rows
    tag_weight: float = 1.0  # emission self-distillation keeping an entity tagger (0: off)

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.batch_size < 1:
            raise ConfigError("max_steps and batch_size must be >= 1")
        if self.tag_weight < 0:
            raise ConfigError("tag_weight must be >= 0")
        if self.lr <= 0 or self.grad_clip <= 0 or self.weight_decay < 0:
            raise ConfigError("lr and grad_clip must be > 0, weight_decay >= 0")
        if self.lwf_weight < 0:
            raise ConfigError(f"lwf_weight must be >= 0, got {self.lwf_weight}")


@dataclass(frozen=True)
class SoftSample:
    text: str
    probs: np.ndarray  # [C] teacher probabilities in the student's label order


@dataclass(frozen=True)
class HardSample:
    text: str
    label: int  # index in the student's label order


def extend_labels(
    model: TinyLSTM, labels: Sequence[str], wanted: Sequence[str], seed: int = 0
) -> tuple[TinyLSTM, list[str]]:
    """``model`` with head rows appended for the labels of ``wanted`` it lacks (old rows and
    every other weight copied; new rows small, their bias at the lowest old bias so they start
    unlikely). Returns the model unchanged when nothing is missing. ``ConfigError`` when the
    grown model's blob would not fit the device's OTA slot (the table's rows cannot shrink
    under a trained model: every token would read other rows)."""
    missing = [w for w in wanted if w not in labels]
    if not missing:
        return model, list(labels)
    old = model.config
    config = StudentConfig(**{**asdict(old), "num_labels": old.num_labels + len(missing)})
    size = blob_bytes(config, [*labels, *missing])
    if size > SLOT_BYTES:
        raise ConfigError(
            f"{len(missing)} new labels would grow the blob to {size} bytes, more than the "
            f"device's {SLOT_BYTES}-byte OTA slot: retrain the student from scratch for "
            f"{config.num_labels} labels (fewer embedding rows, models.footprint)"
        )
    grown = TinyLSTM(config)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(seed)
    w, b = state["head.weight"], state["head.bias"]  # [C, P], [C]
    new_w = torch.randn(len(missing), w.shape[1], generator=generator) * 0.01  # [k, P]
    state["head.weight"] = torch.cat([w, new_w])  # [C + k, P]
    state["head.bias"] = torch.cat([b, b.min().repeat(len(missing))])  # [C + k]
    grown.load_state_dict(state)
    grown.eval()
    return grown, [*labels, *missing]


def finetune(
    model: TinyLSTM,
    new: Sequence[SoftSample],
    replay: Sequence[HardSample],
    config: FinetuneConfig,
    previous: TinyLSTM | None = None,
) -> tuple[TinyLSTM, dict[str, float]]:
    """Train ``model`` (a copy is not made: pass a copy) for ``max_steps``; returns it in eval
    mode and a few training statistics. ``previous`` (the current release, whose labels are
    the first of ``model``'s) is the LwF target when ``config.lwf_weight`` > 0."""
    if not new:
        raise ModelsError("no new samples to fine-tune on")
    tokenizer = model.config.tokenizer()
    c = model.config.num_labels
    # 1. Encode once; new rows first, then replay rows (row r >= n_new is replay r - n_new).
    ids = [tokenizer.encode(s.text) for s in new] + [tokenizer.encode(s.text) for s in replay]
    probs = torch.tensor(np.stack([s.probs for s in new]), dtype=torch.float32)  # [N_new, C]
    assert probs.shape[1] == c, f"teacher probs have {probs.shape[1]} classes, student {c}"
    teacher_log = probs.clamp(min=PROB_FLOOR).log()  # [N_new, C]
    teacher_top = probs.argmax(dim=1)  # [N_new]
    gold = torch.tensor([s.label for s in replay], dtype=torch.long)  # [N_replay]
    n_new = len(new)
    lwf = config.lwf_weight > 0 and previous is not None
    previous_logits = _logits(previous, ids[:n_new]) if lwf and previous else None  # [N, C_old]
    loss_config = LossConfig(
        alpha=config.alpha, temperature=config.temperature, hidden_weight=0.0, attention_weight=0.0
    )
    # The released tagger, frozen: its emissions are the target that keeps entities working.
    reference = None
    if model.config.num_tags and config.tag_weight > 0:
        reference = copy.deepcopy(model).eval()
    # 2. AdamW from the released weights; shuffled passes over all rows until max_steps.
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay
    )
    model.train()
    steps, loss_sum, order = 0, 0.0, torch.zeros(0, dtype=torch.long)
    while steps < config.max_steps:
        if len(order) == 0:
            order = torch.randperm(len(ids), generator=generator)  # [N]
        rows, order = order[: config.batch_size], order[config.batch_size :]
        # 3. Forward the mixed batch; KD loss on the new rows, cross-entropy on replay rows.
        x, lengths = pad_ids([ids[r] for r in rows.tolist()])  # [B, W], [B]
        out = model.features(x, lengths)
        logits = out.logits  # [B, C]
        is_new = rows < n_new  # [B]
        total = logits.sum() * 0.0
        if reference is not None and out.emissions is not None:
            with torch.no_grad():
                target = reference.features(x, lengths).emissions
            assert target is not None
            mask = torch.arange(x.shape[1]).unsqueeze(0) < lengths.unsqueeze(1)  # [B, W]
            kd = emission_kd(out.emissions, target, mask, 1.0)
            total = total + config.tag_weight * kd * len(rows)
        if bool(is_new.any()):
            r = rows[is_new]
            parts = hybrid_loss(loss_config, logits[is_new], teacher_log[r], teacher_top[r])
            total = total + parts.total * int(is_new.sum())
            if previous_logits is not None:
                old = previous_logits[r]  # [b, C_old]
                kd = soft_kd(logits[is_new][:, : old.shape[1]], old, config.temperature)
                total = total + config.lwf_weight * kd * int(is_new.sum())
        if bool((~is_new).any()):
            r = rows[~is_new] - n_new
            total = total + hard_ce(logits[~is_new], gold[r]) * int((~is_new).sum())
        loss = total / len(rows)
        if not torch.isfinite(loss):
            raise ModelsError(f"fine-tuning diverged: loss {loss.item()} at step {steps}")
        # 4. Backward, clip, step.
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        steps += 1
        loss_sum += loss.item()
    model.eval()
    return model, {"steps": float(steps), "loss": loss_sum / max(steps, 1),
                   "epochs": steps * config.batch_size / max(len(ids), 1)}  # fmt: skip


def _logits(model: TinyLSTM, ids: Sequence[list[int]]) -> torch.Tensor:
    """``model``'s logits for encoded texts, ``[N, C]``, without gradients."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(ids), 256):
            x, lengths = pad_ids(list(ids[start : start + 256]))
            out.append(model(x, lengths))
    return torch.cat(out) if out else torch.zeros(0, model.config.num_labels)


def accuracy(
    model: TinyLSTM, labels: Sequence[str], texts: Sequence[str], truth: Sequence[str]
) -> float:
    """Share of ``texts`` whose predicted label name equals ``truth`` (names, so models with
    different label sets compare on the same footing)."""
    assert len(texts) == len(truth), f"{len(texts)} texts vs {len(truth)} labels"
    if not texts:
        return math.nan
    predicted = predict_labels(model, labels, texts)
    return float(np.mean([p == t for p, t in zip(predicted, truth, strict=True)]))


def predict_labels(model: TinyLSTM, labels: Sequence[str], texts: Sequence[str]) -> list[str]:
    tokenizer = model.config.tokenizer()
    out: list[str] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(texts), 256):
            x, lengths = pad_ids([tokenizer.encode(t) for t in texts[start : start + 256]])
            out += [labels[k] for k in model(x, lengths).argmax(dim=1).tolist()]
    return out
