"""The hybrid distillation loss of the seed, done right.

    total = alpha * soft + (1 - alpha) * hard
            + hidden_weight * hidden + attention_weight * attention

- soft: KL(teacher_T || student_T) * T^2, the teacher and student distributions softened by the
  temperature T (Hinton et al. 2015); the T^2 keeps its gradients on the scale of the hard term.
- hard: cross-entropy with the gold labels, over the rows that have one (transfer-set rows
  labeled only by the teacher have ``label = -1`` and contribute the soft term only).
- hidden: masked MSE between the student's BiLSTM outputs ``[B, S, 2H]`` and the
  adapter-projected teacher hidden states aligned to student tokens (models/align.py).
- attention: KL(teacher || student) between the teacher's attention from its pooling position,
  aligned to student tokens, and the student's attention-pooling weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from models.errors import ConfigError

IGNORE_LABEL = -1  # label of a transfer-set row that has only the teacher's soft label


@dataclass(frozen=True)
class LossConfig:
    alpha: float = 0.7  # weight of the soft KD term; (1 - alpha) weighs the hard term (seed)
    temperature: float = 3.0  # softening temperature T of the KD term (seed)
    hidden_weight: float = 0.3  # weight of the hidden-state MSE term (seed's 0.3)
    attention_weight: float = 0.3  # weight of the attention-transfer KL term

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"alpha must be in [0, 1], got {self.alpha}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {self.temperature}")
        if self.hidden_weight < 0 or self.attention_weight < 0:
            raise ConfigError("hidden_weight and attention_weight must be >= 0")


class LossParts(NamedTuple):
    total: torch.Tensor
    soft: torch.Tensor
    hard: torch.Tensor
    hidden: torch.Tensor
    attention: torch.Tensor


def soft_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, t: float) -> torch.Tensor:
    """KL(teacher_T || student_T) * T^2, averaged over the batch.

    ``teacher_logits`` may be log-probabilities: softmax is shift-invariant, so log p / T
    softens a probability vector exactly as logits / T would.
    """
    assert student_logits.shape == teacher_logits.shape, (
        f"student {tuple(student_logits.shape)} vs teacher {tuple(teacher_logits.shape)}"
    )
    log_p_student = F.log_softmax(student_logits / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits / t, dim=-1)
    return F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True) * t * t


def hard_ce(student_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over rows with a gold label; zero when no row has one."""
    if bool((labels != IGNORE_LABEL).any()):
        return F.cross_entropy(student_logits, labels, ignore_index=IGNORE_LABEL)
    return student_logits.sum() * 0.0


def hidden_mse(student: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the masked tokens: ``[B, S, D]``, ``[B, S, D]``, ``[B, S]``."""
    assert student.shape == target.shape, f"{tuple(student.shape)} vs {tuple(target.shape)}"
    assert mask.shape == student.shape[:2], f"mask {tuple(mask.shape)} vs {tuple(student.shape)}"
    m = mask.unsqueeze(-1).to(student.dtype)  # [B, S, 1]
    denom = m.sum() * student.shape[-1]
    if denom == 0:
        return student.sum() * 0.0
    return ((student - target) ** 2 * m).sum() / denom


def attention_kl(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) of two distributions over student tokens, ``[B, S]`` each.

    Rows whose teacher distribution is all zero (nothing aligned) are left out.
    """
    assert student.shape == teacher.shape == mask.shape, (
        f"{tuple(student.shape)}, {tuple(teacher.shape)}, {tuple(mask.shape)}"
    )
    valid = (teacher.sum(dim=-1) > 0) & mask.any(dim=-1)  # [B]
    if not bool(valid.any()):
        return student.sum() * 0.0
    eps = 1e-8
    t = teacher[valid]
    s = student[valid]
    kl = (t * ((t + eps).log() - (s + eps).log())) * mask[valid].to(t.dtype)  # [B', S]
    return kl.sum(dim=-1).mean()


def hybrid_loss(
    config: LossConfig,
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor | None,
    labels: torch.Tensor,
    student_hidden: torch.Tensor | None = None,
    teacher_hidden: torch.Tensor | None = None,
    hidden_mask: torch.Tensor | None = None,
    student_attention: torch.Tensor | None = None,
    teacher_attention: torch.Tensor | None = None,
) -> LossParts:
    """Mix the four terms; a term whose inputs are None is zero (stage 1 passes no teacher)."""
    zero = student_logits.sum() * 0.0
    hard = hard_ce(student_logits, labels)
    if teacher_logits is None:
        return LossParts(hard, zero, hard, zero, zero)
    # 1. soft and hard output-layer terms
    soft = soft_kd(student_logits, teacher_logits, config.temperature)
    total = config.alpha * soft + (1.0 - config.alpha) * hard
    # 2. hidden-state term (the adapter has already projected the teacher states)
    hidden = zero
    if student_hidden is not None and teacher_hidden is not None and hidden_mask is not None:
        hidden = hidden_mse(student_hidden, teacher_hidden, hidden_mask)
        total = total + config.hidden_weight * hidden
    # 3. attention-transfer term
    attention = zero
    if student_attention is not None and teacher_attention is not None and hidden_mask is not None:
        attention = attention_kl(student_attention, teacher_attention, hidden_mask)
        total = total + config.attention_weight * attention
    return LossParts(total, soft, hard, hidden, attention)
