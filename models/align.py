"""Alignment of teacher tokens to student tokens by character spans.

The teacher (a sentencepiece or BPE model) and the student (the hashed tokenizer of
docs/tokenizer.md) cut the same text differently. Both report character spans in the same
Python string, so each student token is matched to the teacher tokens whose spans overlap its
own: hidden states are averaged over those teacher tokens, and attention mass is shared out
among the student tokens a teacher token overlaps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Span = tuple[int, int]  # [start, end) in characters of the original text


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def overlap_matrix(student: Sequence[Span], teacher: Sequence[Span]) -> torch.Tensor:
    """``M[s, t] = 1`` where student token ``s`` and teacher token ``t`` overlap.

    Teacher tokens with an empty span (special tokens such as ``<s>``, ``</s>``, padding) never
    overlap anything. Shape ``[len(student), len(teacher)]``.
    """
    m = torch.zeros(len(student), len(teacher))
    for s, s_span in enumerate(student):
        if s_span[1] <= s_span[0]:
            continue
        for t, t_span in enumerate(teacher):
            if t_span[1] > t_span[0] and _overlaps(s_span, t_span):
                m[s, t] = 1.0
    return m


def mean_weights(m: torch.Tensor) -> torch.Tensor:
    """Row-normalised overlap: each student token takes the mean of its teacher tokens."""
    rows = m.sum(dim=1, keepdim=True)  # [S, 1]
    return torch.where(rows > 0, m / rows.clamp(min=1.0), torch.zeros_like(m))


def share_weights(m: torch.Tensor) -> torch.Tensor:
    """Column-normalised overlap: a teacher token's mass is shared by its student tokens."""
    cols = m.sum(dim=0, keepdim=True)  # [1, Tt]
    return torch.where(cols > 0, m / cols.clamp(min=1.0), torch.zeros_like(m))


def align_hidden(
    teacher_hidden: torch.Tensor, student: Sequence[Span], teacher: Sequence[Span]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher states ``[Tt, D]`` -> per-student-token means ``[S, D]`` and a mask ``[S]``.

    The mask is False for student tokens no teacher token overlaps (their row is zero and must
    not count in the loss).
    """
    assert teacher_hidden.dim() == 2 and teacher_hidden.shape[0] == len(teacher), (
        f"teacher_hidden {tuple(teacher_hidden.shape)} does not match {len(teacher)} spans"
    )
    m = overlap_matrix(student, teacher)  # [S, Tt]
    aligned = mean_weights(m).to(teacher_hidden.dtype) @ teacher_hidden  # [S, D]
    return aligned, m.sum(dim=1) > 0


def align_attention(
    teacher_attention: torch.Tensor, student: Sequence[Span], teacher: Sequence[Span]
) -> torch.Tensor:
    """A teacher attention distribution ``[Tt]`` -> a distribution over student tokens ``[S]``.

    Mass on teacher tokens that overlap no student token (special tokens, whitespace) is
    dropped and the rest renormalised; an all-zero result (nothing overlaps) stays zero.
    """
    assert teacher_attention.dim() == 1 and teacher_attention.shape[0] == len(teacher), (
        f"teacher_attention {tuple(teacher_attention.shape)} does not match {len(teacher)} spans"
    )
    m = overlap_matrix(student, teacher)  # [S, Tt]
    mass = share_weights(m).to(teacher_attention.dtype) @ teacher_attention  # [S]
    total = mass.sum()
    return mass / total if total > 0 else mass
