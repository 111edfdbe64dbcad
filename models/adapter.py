"""Projection of teacher hidden states into the student's BiLSTM output space.

The seed's adapter mapped the teacher width to 128, but a bidirectional LSTM with hidden 128
outputs 256 features per token (forward and backward halves concatenated), so the adapter maps
``teacher_hidden -> 2 * student_hidden``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from models.errors import ConfigError


@dataclass(frozen=True)
class AdapterConfig:
    teacher_hidden: int  # width of the teacher's hidden states (384 for multilingual-e5-small)
    student_width: int = 256  # width of the student's BiLSTM output: 2 * hidden

    def __post_init__(self) -> None:
        if self.teacher_hidden < 1 or self.student_width < 1:
            raise ConfigError(
                f"teacher_hidden and student_width must be >= 1, got "
                f"{self.teacher_hidden} and {self.student_width}"
            )


class Adapter(nn.Module):
    """Linear + LayerNorm from the teacher's hidden size to the student's BiLSTM output."""

    def __init__(self, config: AdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.dense = nn.Linear(config.teacher_hidden, config.student_width)
        self.norm = nn.LayerNorm(config.student_width)

    def forward(self, teacher_hidden: torch.Tensor) -> torch.Tensor:
        """``[..., teacher_hidden] -> [..., student_width]``."""
        assert teacher_hidden.shape[-1] == self.config.teacher_hidden, (
            f"expected last dim {self.config.teacher_hidden}, got {tuple(teacher_hidden.shape)}"
        )
        out: torch.Tensor = self.norm(self.dense(teacher_hidden))
        return out
